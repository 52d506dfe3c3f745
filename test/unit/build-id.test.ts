import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/paths';
import { buildIdFor, codeHash, deploymentVersion, ordersOnOtherBuilds, workerEnvFor } from '../../lib/temporal/deployment';

/**
 * WORKER_BUILD_ID against the workflow bundle the worker loads. Runs are PINNED
 * to a build id, so a worker claiming an id while running other code would
 * replay that build's runs on the wrong code: the id must name the bundle.
 */

const { databaseUrl, temporalAddress, workflowBundlePath } = inject('testEnv');
const code = readFileSync(workflowBundlePath, 'utf8');
const derived = buildIdFor(code);
// The derived id's last part: the first 10 hex of the bundle's sha256.
const hash = derived.slice(derived.lastIndexOf('-') + 1);

const versionFor = (env: NodeJS.ProcessEnv) => deploymentVersion(loadConfig(env), code);
const refusal = (env: NodeJS.ProcessEnv): string => {
  try {
    versionFor(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('WORKER_BUILD_ID and the workflow bundle', () => {
  it('unset: the id derived from the bundle, <version>-<hash>', () => {
    expect(derived).toMatch(/^\d+\.\d+\.\d+.*-[0-9a-f]{10}$/);
    expect(derived.endsWith(`-${hash}`)).toBe(true);
    expect(versionFor({})).toEqual({ deploymentName: 'order-saga', buildId: derived });
  });

  it('accepts the derived id, and any id that ends with the bundle hash (a name of the same code)', () => {
    expect(versionFor({ WORKER_BUILD_ID: derived }).buildId).toBe(derived);
    expect(versionFor({ WORKER_BUILD_ID: `canary-${hash}` }).buildId).toBe(`canary-${hash}`);
  });

  it.each([
    ['a name of no code', 'build-x'],
    ["another bundle's id", '0.4.0-0123456789'],
    ['the hash without its "-"', `canary${hash}`],
    ['the hash not at the end', `${hash}-canary`],
  ])('refuses %s, naming both ids and what to do', (_what, id) => {
    const message = refusal({ WORKER_BUILD_ID: id });
    expect(message).toContain(`WORKER_BUILD_ID=${id}`);
    expect(message).toContain(derived);
    expect(message).toMatch(/unset WORKER_BUILD_ID/);
    expect(message).toContain(`-${hash}`);
    expect(message).toMatch(/WORKER_BUILD_ID_FORCE=1/);
  });

  it('WORKER_BUILD_ID_FORCE=1 takes the id as given (something else guarantees what it names); only 0 or 1', () => {
    expect(versionFor({ WORKER_BUILD_ID: 'build-x', WORKER_BUILD_ID_FORCE: '1' }).buildId).toBe('build-x');
    expect(refusal({ WORKER_BUILD_ID: 'build-x', WORKER_BUILD_ID_FORCE: '0' })).toMatch(/WORKER_BUILD_ID=build-x/);
    expect(() => loadConfig({ WORKER_BUILD_ID_FORCE: 'yes' })).toThrow(/WORKER_BUILD_ID_FORCE: must be 1/);
  });
});

describe("npm start's advice for orders pinned to another build", () => {
  const current = { deploymentName: 'order-saga', buildId: '0.4.0-ffffffffff' };

  it.each([
    ['a derived id', `0.4.0-${hash}`],
    ['a name of the code ending with its hash', `canary-${hash}`],
    ['an id taken with WORKER_BUILD_ID_FORCE=1', 'build-x'],
  ])('for %s: variables that a worker of that code accepts, with that build id', (_what, buildId) => {
    // The bundle here plays that build's code; the advice is to run it there.
    const env = workerEnvFor(`other-deployment:${buildId}`, current);
    expect(deploymentVersion(loadConfig(env), code)).toEqual({ deploymentName: 'other-deployment', buildId });
    const [, advice] = ordersOnOtherBuilds({ unversioned: [], notYetTaken: [], byVersion: new Map([[`other-deployment:${buildId}`, 2]]) }, current);
    const shown = Object.entries(env).map(([name, value]) => `${name}=${value}`).join(' ');
    expect(advice).toContain(`${shown} npm run worker`);
    expect(advice).toMatch(/checkout \(or image\) of that build's code/);
  });

  it('WORKER_BUILD_ID_FORCE only for an id naming no code hash', () => {
    expect(workerEnvFor(`order-saga:canary-${hash}`, current)).toEqual({ WORKER_BUILD_ID: `canary-${hash}` });
    expect(workerEnvFor('order-saga:build-x', current)).toEqual({ WORKER_BUILD_ID: 'build-x', WORKER_BUILD_ID_FORCE: '1' });
    expect(codeHash(code)).toBe(hash);
  });
});

describe('the worker entry point (npm run worker)', () => {
  it('exits at start, before it polls, when WORKER_BUILD_ID does not name its bundle', async () => {
    // A deployment and queue of their own: were the check missing, this worker would poll
    // them, and no other test's orders would be handed to it.
    const own = `build-id-${randomUUID().slice(0, 8)}`;
    const { code: exitCode, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', path.join(PROJECT_ROOT, 'worker', 'main.ts')],
        {
          env: {
            PATH: process.env.PATH,
            NODE_ENV: 'test',
            DATABASE_URL: databaseUrl,
            TEMPORAL_ADDRESS: temporalAddress,
            TEMPORAL_TASK_QUEUE: own,
            WORKER_DEPLOYMENT_NAME: own,
            WORKER_METRICS_PORT: '0',
            WORKFLOW_BUNDLE_PATH: workflowBundlePath,
            WORKER_BUILD_ID: 'build-x',
          },
          timeout: 30_000,
        },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(stderr).toContain('WORKER_BUILD_ID=build-x');
    expect(stderr).toContain(derived);
    expect(stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack
    expect(exitCode).toBe(1);
  });
});
