import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { ConfigError, type Config } from '../config';
import { PROJECT_ROOT } from '../paths';

/**
 * Worker Versioning for the order saga (docs/operations.md, "Releasing a new
 * build"). Every worker joins the Worker Deployment WORKER_DEPLOYMENT_NAME with
 * one build id; `orderSaga` is PINNED, so a run finishes on the build that
 * started it and a build's workflow code never meets another build's history.
 */
export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

/** The workflow type the saga registers; what the visibility queries below count. */
const SAGA_TYPE = 'orderSaga';

const packageVersion = (): string =>
  (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The first 10 hex of the sha256 of the workflow bundle: what names its code in
 * a build id. Its inline source map is left out: it names the files by their
 * absolute paths, and the same code must be the same build in every checkout
 * (a CI clone, the image's /app).
 */
export function codeHash(bundleCode: string): string {
  const code = bundleCode.replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '');
  return createHash('sha256').update(code).digest('hex').slice(0, 10);
}

/**
 * The default build id: the release and a hash of the workflow bundle, e.g.
 * `0.4.0-3f2a9c1b7e`. The bundle is the code a worker actually replays (the
 * saga, its interceptors and the SDK's workflow runtime), so any change of it
 * is a new build.
 */
export function buildIdFor(bundleCode: string, release = packageVersion()): string {
  return `${release}-${codeHash(bundleCode)}`;
}

/**
 * Whether `buildId` names this bundle: it ends with `-<its hash>`. The derived id
 * does, and so may a name an operator gives the same code (`canary-3f2a9c1b7e`);
 * two ids of one code are harmless, one id of two codes is what must not happen,
 * since a pinned run would then be replayed on other code than the one it started on.
 */
export function namesCode(buildId: string, bundleCode: string): boolean {
  return buildId.endsWith(`-${codeHash(bundleCode)}`);
}

/**
 * Whether `buildId` ends with some bundle's hash, as every id a worker accepts
 * without WORKER_BUILD_ID_FORCE=1 does: `npm start`'s advice for another build's
 * orders tells the two kinds apart.
 */
export function namesSomeCode(buildId: string): boolean {
  return /-[0-9a-f]{10}$/.test(buildId);
}

/**
 * A worker's version in the Worker Deployment: WORKER_BUILD_ID, or the one
 * derived from its workflow code. The worker, the benchmark's workers and `npm
 * start` (which reports the build before the worker starts) all take it from
 * here, so each refuses, before it polls, a WORKER_BUILD_ID that names other
 * code, unless WORKER_BUILD_ID_FORCE=1 says something else guarantees it.
 */
export function deploymentVersion(
  config: Pick<Config, 'WORKER_DEPLOYMENT_NAME' | 'WORKER_BUILD_ID' | 'WORKER_BUILD_ID_FORCE'>,
  code: string,
): DeploymentVersion {
  const derived = buildIdFor(code);
  const claimed = config.WORKER_BUILD_ID;
  if (claimed !== undefined && !namesCode(claimed, code) && config.WORKER_BUILD_ID_FORCE !== '1') {
    throw new ConfigError(
      `WORKER_BUILD_ID=${claimed} does not name the workflow bundle this worker loads, whose build id is ${derived}.\n` +
        `  Runs are pinned to their build: a worker claiming ${claimed} would replay that build's runs on other code.\n` +
        `  unset WORKER_BUILD_ID to join as ${derived}, or\n` +
        `  give this code a name of your own that ends with its hash, e.g. WORKER_BUILD_ID=canary-${codeHash(code)}, or\n` +
        `  to run ${claimed}'s orders, start a worker from that build's code (its checkout or image), or\n` +
        `  set WORKER_BUILD_ID_FORCE=1 only if something else (such as a Temporal Worker Controller) guarantees that ${claimed} names this code alone.\n` +
        '  docs/operations.md, "Build ids".',
    );
  }
  return { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId: claimed ?? derived };
}

/** How visibility names a version (the TemporalWorkerDeploymentVersion search attribute). */
export function versionKey(version: DeploymentVersion): string {
  return `${version.deploymentName}:${version.buildId}`;
}

/**
 * Makes `version` the deployment's current version: new orders start on it.
 * The server knows a version only once one of its workers has polled, so this
 * retries until then (a worker that just started), up to `timeoutMs`.
 */
export async function makeCurrentVersion(client: Client, version: DeploymentVersion, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: client.options.namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        identity: client.options.identity,
      });
      return;
    } catch (err) {
      // NOT_FOUND (5) / FAILED_PRECONDITION (9): no worker of this version has polled yet.
      const notYet = isGrpcServiceError(err) && (err.code === 5 || err.code === 9);
      if (!notYet || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The deployment's current build id; undefined while it has none (or does not exist yet). */
export async function deploymentCurrentBuildId(client: Client, deploymentName: string): Promise<string | undefined> {
  try {
    const { workerDeploymentInfo } = await client.workflowService.describeWorkerDeployment({
      namespace: client.options.namespace,
      deploymentName,
    });
    return workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId || undefined;
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === 5) return undefined; // no worker of it has polled yet
    throw err;
  }
}

/** Open orders by the version they are pinned to, as workflow ids where a few are named. */
export interface OpenOrdersByVersion {
  /** Runs a worker without Worker Versioning (0.3 and older) has worked on: a 0.4 build cannot replay them. */
  unversioned: string[];
  /**
   * Runs no worker has completed a task of yet (the API accepted the order while no
   * worker ran): they have no version yet either, and take the one of the first worker
   * that runs them, the current version's.
   */
  notYetTaken: string[];
  byVersion: Map<string, number>;
}

/**
 * Counts the open saga runs of the namespace by their version: what `npm
 * start` reports, so that orders pinned to a build no worker runs any more, or
 * left by an unversioned release, are never silently stuck.
 */
export async function openOrdersByVersion(client: Client): Promise<OpenOrdersByVersion> {
  const result: OpenOrdersByVersion = { unversioned: [], notYetTaken: [], byVersion: new Map() };
  // Listed, not counted with GROUP BY: SQLite visibility (the dev server) groups by
  // ExecutionStatus only. Visibility carries the version as a search attribute (the
  // list's versioningInfo stays empty).
  for await (const run of client.workflow.list({ query: `WorkflowType = '${SAGA_TYPE}' AND ExecutionStatus = 'Running'` })) {
    // System attributes: in the untyped map only, not in typedSearchAttributes.
    const attributes = run.searchAttributes as Record<string, unknown[] | undefined>;
    const key = attributes.TemporalWorkerDeploymentVersion?.[0];
    if (typeof key === 'string' && key !== '') result.byVersion.set(key, (result.byVersion.get(key) ?? 0) + 1);
    else if (attributes.BuildIds?.includes(UNVERSIONED_BUILD)) result.unversioned.push(run.workflowId);
    else result.notYetTaken.push(run.workflowId);
  }
  return result;
}

/**
 * The variables a worker of the build `key` (`<deployment>:<build id>`) is started
 * with, in a checkout or image of that build's code: what `npm start` advises for
 * orders pinned to it. Only that code may run them, and its worker accepts the id
 * there: a derived or hash-suffixed id names that code; an id naming no hash was
 * started with WORKER_BUILD_ID_FORCE=1, and needs it again.
 */
export function workerEnvFor(key: string, current: DeploymentVersion): Record<string, string> {
  const deploymentName = key.slice(0, key.indexOf(':'));
  const buildId = key.slice(key.indexOf(':') + 1);
  return {
    ...(deploymentName === current.deploymentName ? {} : { WORKER_DEPLOYMENT_NAME: deploymentName }),
    WORKER_BUILD_ID: buildId,
    ...(namesSomeCode(buildId) ? {} : { WORKER_BUILD_ID_FORCE: '1' }),
  };
}

/**
 * Open orders that the build `current` will not run: pinned to another build (an
 * earlier `npm start` of other workflow code), which wait for a worker of their
 * build. Lines saying how many and what to do; none if all is well.
 */
export function ordersOnOtherBuilds(open: OpenOrdersByVersion, current: DeploymentVersion): string[] {
  const lines: string[] = [];
  for (const [key, n] of open.byVersion) {
    if (key === versionKey(current)) continue;
    const env = Object.entries(workerEnvFor(key, current)).map(([name, value]) => `${name}=${value}`).join(' ');
    lines.push(
      `${n} unfinished order${n === 1 ? ' is' : 's are'} pinned to ${key}, which this worker does not run: they wait for a worker of that build.`,
      `  In a checkout (or image) of that build's code, start one with ${env} npm run worker (only that code: a worker refuses a build id ` +
        'that names other code), or see docs/operations.md "Releasing a new build" (orders pinned to a build no worker runs).',
    );
  }
  return lines;
}

/**
 * The visibility filter for runs of no version: started before Worker Versioning,
 * or not yet taken by any worker. The upgrade from 0.3 waits for both to finish
 * (docs/operations.md, "Upgrading from 0.3").
 */
export const UNVERSIONED = 'TemporalWorkerDeploymentVersion IS NULL';

/**
 * The server adds this to a run's BuildIds once a worker without Worker Versioning
 * completes one of its tasks; a versioned worker adds `pinned:<version>` instead.
 */
const UNVERSIONED_BUILD = 'unversioned';

/**
 * The visibility filter for runs a worker without Worker Versioning has worked on:
 * those of a 0.3 release, which a 0.4 build must never be handed. Not a run no worker
 * has taken yet, whose BuildIds is empty.
 */
export const RAN_UNVERSIONED = `${UNVERSIONED} AND BuildIds = '${UNVERSIONED_BUILD}'`;
