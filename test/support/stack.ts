import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';
import { stopChild } from '../../dev/child-process';
import { PROJECT_ROOT } from '../../lib/paths';
import { freePort } from '../../dev/free-port';

/**
 * A worker and an API as real child processes, started through the same entry
 * points as `npm run worker` / `npm run api`, against the suite's dev server and
 * database. Each stack has its own task queue, so stacks with different fault
 * settings run side by side.
 */
export interface Stack {
  baseUrl: string;
  taskQueue: string;
  env: NodeJS.ProcessEnv;
  /** SIGKILLs the worker: a crash, with no graceful shutdown. */
  killWorker(): Promise<void>;
  startWorker(): Promise<void>;
  /** Another worker on the stack's queue, e.g. of another build (a WORKER_BUILD_ID ending with the bundle's hash); stopped with the stack. */
  startExtraWorker(overrides: NodeJS.ProcessEnv): { stop(): Promise<void> };
  /** Stops the API gracefully and starts it again on the same port with `overrides` (e.g. other API_KEYS), as a redeploy does. */
  restartApi(overrides: NodeJS.ProcessEnv): Promise<void>;
  stop(): Promise<void>;
}

function launch(entry: 'worker' | 'api', env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, entry, 'main.ts')], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Keep the child's errors visible in the test output.
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${entry}] ${d}`));
  return child;
}

async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child) await stopChild(child, 10_000, signal);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export async function startStack(
  name: string,
  overrides: NodeJS.ProcessEnv = {},
  opts: { worker?: boolean; /** Settings for the API process only, e.g. a TEMPORAL_ADDRESS through a proxy. */ apiOverrides?: NodeJS.ProcessEnv } = {},
): Promise<Stack> {
  const { databaseUrl, temporalAddress, workflowBundlePath } = inject('testEnv');
  const port = await freePort();
  const taskQueue = `${name}-${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    WORKFLOW_BUNDLE_PATH: workflowBundlePath,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    // Several stacks of two processes share the server's connections (the embedded one allows 200).
    PG_POOL_SIZE: '5',
    // The tests poll orders ten times a second from one address; rate limiting has
    // its own tests (test/unit/hardening.test.ts) and would only make these flaky.
    RATE_LIMIT_PER_MINUTE: '0',
    // Workers of several stacks (and of other suites on the machine) would collide on 9464;
    // test/e2e/worker-metrics.e2e.test.ts gives its worker a free port.
    WORKER_METRICS_PORT: '0',
    // As under `npm start`: the worker's build takes new orders (Worker Versioning, lib/temporal/deployment.ts).
    WORKER_SET_CURRENT: '1',
    ...overrides,
  };
  let worker = opts.worker === false ? undefined : launch('worker', env);
  let api = launch('api', { ...env, ...opts.apiOverrides });
  const extras: ChildProcess[] = [];
  const baseUrl = `http://127.0.0.1:${port}`;
  const apiUp = () => waitFor(`the ${name} API`, async () => ((await fetch(`${baseUrl}/healthz`)).ok ? true : undefined), 60_000);
  await apiUp();
  return {
    baseUrl,
    taskQueue,
    env,
    killWorker: () => kill(worker, 'SIGKILL'),
    startWorker: async () => {
      worker = launch('worker', env);
    },
    startExtraWorker: (extra) => {
      const child = launch('worker', { ...env, ...extra });
      extras.push(child);
      return { stop: () => kill(child, 'SIGTERM') };
    },
    restartApi: async (apiOverrides) => {
      await kill(api, 'SIGTERM');
      api = launch('api', { ...env, ...opts.apiOverrides, ...apiOverrides });
      await apiUp();
    },
    stop: async () => {
      await kill(api, 'SIGTERM');
      await Promise.all([worker, ...extras].map((w) => kill(w, 'SIGTERM')));
    },
  };
}
