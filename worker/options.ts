import { existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../lib/config';
import type { Pool } from '../lib/db/pool';
import { PROJECT_ROOT } from '../lib/paths';
import { orderDataConverter } from '../lib/temporal/data-converter';
import { TRACING_WORKFLOW_INTERCEPTOR_MODULES, tracingWorkerOptions } from '../lib/telemetry/temporal';
import { activeTracing } from '../lib/telemetry/tracing';

/** Written by `npm run build` (scripts/bundle-workflows.ts); production workers load it. */
export const WORKFLOW_BUNDLE_PATH = path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js');
// A directory: webpack resolves its index.ts from source, or index.js in dist/.
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');
/**
 * Workflow interceptors, bundled with the workflow code (they run in its sandbox):
 * the saga's business metrics (worker/workflow-metrics.ts) and tracing's workflow
 * side (lib/telemetry/workflow-interceptors.ts).
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [path.resolve(__dirname, 'workflow-metrics'), ...TRACING_WORKFLOW_INTERCEPTOR_MODULES];

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
  // A bundle carries its interceptors already (worker/workflow-bundle.ts);
  // telemetryAndEncryptionOptions names them for bundling from source.
  return { workflowsPath: WORKFLOWS_PATH };
}

/**
 * Everything but the connection for a worker of the order saga: queue, workflow
 * code, activities on `pool`, tuning. Shared by worker/main.ts and the
 * benchmark's combined API+worker process.
 */
export function orderWorkerOptions(config: Config, pool: Pool): Omit<WorkerOptions, 'connection'> {
  const source = workflowSource();
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...source,
    activities: createActivities(pool, simulatedServices(config)),
    shutdownGraceTime: '10 seconds',
    ...tuningOptions(config),
    ...telemetryAndEncryptionOptions(config, 'workflowsPath' in source),
  };
}

/**
 * Tracing (lib/telemetry/) and payload encryption (lib/temporal/payload-codec.ts):
 * both absent from the worker's path unless configured. A pre-built bundle already
 * holds the workflow interceptor module; bundling from source must be told of it.
 */
export function telemetryAndEncryptionOptions(config: Config, bundlesFromSource: boolean): Partial<WorkerOptions> {
  const tracing = tracingWorkerOptions(activeTracing());
  return {
    interceptors: {
      activity: tracing.activityInterceptors,
      workflowModules: bundlesFromSource ? WORKFLOW_INTERCEPTOR_MODULES : undefined,
    },
    sinks: tracing.sinks,
    dataConverter: orderDataConverter(config.PAYLOAD_ENCRYPTION_KEYS),
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
