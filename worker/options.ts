import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../lib/config';
import type { Pool } from '../lib/db/pool';
import { PROJECT_ROOT } from '../lib/paths';
import { orderDataConverter } from '../lib/temporal/data-converter';
import type { DeploymentVersion } from '../lib/temporal/deployment';
import { bundleWorkflows } from './workflow-bundle';
import { tracingWorkerOptions } from '../lib/telemetry/temporal';
import { activeTracing } from '../lib/telemetry/tracing';

/** Written by `npm run build` (scripts/bundle-workflows.ts); production workers load it. */
export const WORKFLOW_BUNDLE_PATH = path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js');

/**
 * The workflow code this worker runs: a pre-built bundle (production, `npm
 * start`, the tests; it starts in well under a second and is exactly what was
 * tested), or in development, bundled from source at start (several seconds of
 * webpack). Its hash is the default build id (lib/temporal/deployment.ts).
 */
export async function workflowCode(): Promise<string> {
  const bundle = process.env.WORKFLOW_BUNDLE_PATH ?? WORKFLOW_BUNDLE_PATH;
  if (process.env.NODE_ENV === 'production' || process.env.WORKFLOW_BUNDLE_PATH) {
    if (!existsSync(bundle)) throw new Error(`Workflow bundle ${bundle} is missing: run \`npm run build\` first.`);
    return readFileSync(bundle, 'utf8');
  }
  return bundleWorkflows();
}

/**
 * Everything but the connection for a worker of the order saga: queue, workflow
 * code and its version, activities on `pool`, tuning. Shared by worker/main.ts
 * and the benchmark's combined API+worker process.
 *
 * The worker joins its Worker Deployment with `version`, and its workflows are
 * PINNED: a run is started by the deployment's current version and finishes on
 * that build, whatever is deployed meanwhile, so the workflow code carries only
 * its own behaviour (no patch branches) and never replays another build's history.
 */
export function orderWorkerOptions(config: Config, pool: Pool, code: string, version: DeploymentVersion): Omit<WorkerOptions, 'connection'> {
  return sagaWorkerOptions(config, createActivities(pool, simulatedServices(config)), code, version);
}

/**
 * orderWorkerOptions with the activities given: the benchmark's floor design
 * (bench/designs/temporal-floor/) runs the same worker around activities that
 * do nothing, so that the two differ in the activities alone.
 */
export function sagaWorkerOptions(
  config: Config,
  activities: WorkerOptions['activities'],
  code: string,
  version: DeploymentVersion,
): Omit<WorkerOptions, 'connection'> {
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowBundle: { code },
    workerDeploymentOptions: { version, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' },
    activities,
    shutdownGraceTime: '10 seconds',
    ...tuningOptions(config),
    ...telemetryAndEncryptionOptions(config),
  };
}

/**
 * Tracing (lib/telemetry/) and payload encryption (lib/temporal/payload-codec.ts):
 * both absent from the worker's path unless configured. The workflow side of
 * tracing is in the bundle already (worker/workflow-bundle.ts).
 */
export function telemetryAndEncryptionOptions(config: Config): Partial<WorkerOptions> {
  const tracing = tracingWorkerOptions(activeTracing());
  return {
    interceptors: { activity: tracing.activityInterceptors },
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
