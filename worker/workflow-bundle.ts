import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { TRACING_WORKFLOW_INTERCEPTOR_MODULES } from '../lib/telemetry/temporal';

// A directory: webpack resolves its index.ts from source, or index.js in dist/.
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');
/**
 * Workflow interceptors, bundled with the workflow code (they run in its sandbox):
 * the saga's business metrics (worker/workflow-metrics.ts) and tracing's workflow
 * side (lib/telemetry/workflow-interceptors.ts).
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [path.resolve(__dirname, 'workflow-metrics'), ...TRACING_WORKFLOW_INTERCEPTOR_MODULES];

/**
 * Webpack's own report (a dozen lines per build) is noise to someone starting
 * the stack or running the tests; its warnings and errors are not.
 */
const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** The workflow code and its interceptors, bundled from source: what a worker replays. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: quietLogger,
  });
  return code;
}

/**
 * Bundles the workflow code once and writes it to `outPath`, for workers that
 * load a pre-built bundle (WORKFLOW_BUNDLE_PATH): production images, `npm start`,
 * the tests and the benchmark. Returns the bundle's code.
 */
export async function writeWorkflowBundle(outPath: string): Promise<string> {
  const code = await bundleWorkflows();
  mkdirSync(path.dirname(outPath), { recursive: true });
  writeFileSync(outPath, code);
  return code;
}
