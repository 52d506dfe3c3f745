import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from '../worker/options';

/**
 * Writes the pre-built workflow bundle that production workers load
 * (NODE_ENV=production). Building it once, at image build time, makes worker
 * start-up fast and guarantees every worker runs the same workflow code.
 */
async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  mkdirSync(path.dirname(WORKFLOW_BUNDLE_PATH), { recursive: true });
  writeFileSync(WORKFLOW_BUNDLE_PATH, code);
  console.log(`Workflow bundle written to ${path.relative(process.cwd(), WORKFLOW_BUNDLE_PATH)} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
