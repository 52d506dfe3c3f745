import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { Config } from '../config';
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
 * The default build id: the release and a hash of the workflow bundle, e.g.
 * `0.4.0-3f2a9c1b7e`. The bundle is the code a worker actually replays (the
 * saga, its interceptors and the SDK's workflow runtime), so any change of it
 * is a new build. Its inline source map is left out: it names the files by
 * their absolute paths, and the same code must be the same build in every
 * checkout (a CI clone, the image's /app).
 */
export function buildIdFor(bundleCode: string, release = packageVersion()): string {
  const code = bundleCode.replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '');
  return `${release}-${createHash('sha256').update(code).digest('hex').slice(0, 10)}`;
}

/**
 * A worker's version in the Worker Deployment: WORKER_BUILD_ID, or the one
 * derived from its workflow code. The worker and `npm start` (which reports the
 * build before the worker starts) both take it from here.
 */
export function deploymentVersion(config: Pick<Config, 'WORKER_DEPLOYMENT_NAME' | 'WORKER_BUILD_ID'>, code: string): DeploymentVersion {
  return { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId: config.WORKER_BUILD_ID ?? buildIdFor(code) };
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
