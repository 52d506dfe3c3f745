import { existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../lib/config';
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

/** Simulated downstream services, from DESIGN.md's *_LATENCY_MS and *_FAILURE_RATE. */
export function simulatedServices(config: Config) {
  return {
    inventory: { latencyMs: config.INVENTORY_LATENCY_MS, failureRate: 0 },
    payment: { latencyMs: config.PAYMENT_LATENCY_MS, failureRate: config.PAYMENT_FAILURE_RATE },
    notify: { latencyMs: config.NOTIFY_LATENCY_MS, failureRate: config.NOTIFY_FAILURE_RATE },
  };
}
