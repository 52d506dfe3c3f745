import { existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../lib/config';
import type { Pool } from '../lib/db/pool';
import { PROJECT_ROOT } from '../lib/paths';

/** Written by `npm run build` (scripts/bundle-workflows.ts); production workers load it. */
export const WORKFLOW_BUNDLE_PATH = path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js');
// A directory: webpack resolves its index.ts from source, or index.js in dist/.
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');

/**
 * Where the worker gets its workflow code. A pre-built bundle starts in well
 * under a second and is exactly what was tested; bundling from source at start
 * (the development default) takes several seconds of webpack per process.
 */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = process.env.WORKFLOW_BUNDLE_PATH ?? WORKFLOW_BUNDLE_PATH;
  if (process.env.NODE_ENV === 'production' || process.env.WORKFLOW_BUNDLE_PATH) {
    if (!existsSync(bundle)) throw new Error(`Workflow bundle ${bundle} is missing: run \`npm run build\` first.`);
    return { workflowBundle: { codePath: bundle } };
  }
  return { workflowsPath: WORKFLOWS_PATH };
}

/**
 * Everything but the connection for a worker of the order saga: queue, workflow
 * code, activities on `pool`, tuning. Shared by worker/main.ts and the
 * benchmark's combined API+worker process.
 */
export function orderWorkerOptions(config: Config, pool: Pool): Omit<WorkerOptions, 'connection'> {
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...workflowSource(),
    activities: createActivities(pool, simulatedServices(config)),
    shutdownGraceTime: '10 seconds',
    ...tuningOptions(config),
  };
}

/** Simulated downstream services, set by the *_LATENCY_MS, *_FAILURE_RATE and PAYMENT_SLOW_* variables (configuration table in README.md). */
export function simulatedServices(config: Config) {
  return {
    inventory: { latencyMs: config.INVENTORY_LATENCY_MS, failureRate: 0 },
    payment: {
      latencyMs: config.PAYMENT_LATENCY_MS,
      failureRate: config.PAYMENT_FAILURE_RATE,
      slowRate: config.PAYMENT_SLOW_RATE,
      slowMs: config.PAYMENT_SLOW_MS,
      outageFile: config.PAYMENT_OUTAGE_FILE,
    },
    notify: { latencyMs: config.NOTIFY_LATENCY_MS, failureRate: config.NOTIFY_FAILURE_RATE },
  };
}

/** Concurrency and poller settings from WORKER_* variables; unset ones keep the SDK's defaults. */
export function tuningOptions(config: Config): Partial<WorkerOptions> {
  const simple = (maximum: number | undefined) => (maximum === undefined ? undefined : { type: 'simple-maximum' as const, maximum });
  const options: Partial<WorkerOptions> = {
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    workflowTaskPollerBehavior: simple(config.WORKER_WORKFLOW_TASK_POLLERS),
    activityTaskPollerBehavior: simple(config.WORKER_ACTIVITY_TASK_POLLERS),
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
