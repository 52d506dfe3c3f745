import path from 'node:path';
import { buildIdFor } from '../lib/temporal/deployment';
import { writeWorkflowBundle } from '../worker/workflow-bundle';
import { WORKFLOW_BUNDLE_PATH } from '../worker/options';

/**
 * Writes the pre-built workflow bundle that production workers load
 * (NODE_ENV=production). Building it once, at image build time, makes worker
 * start-up fast and guarantees every worker runs the same workflow code.
 */
writeWorkflowBundle(WORKFLOW_BUNDLE_PATH)
  .then((code) =>
    console.log(
      `Workflow bundle written to ${path.relative(process.cwd(), WORKFLOW_BUNDLE_PATH)} (${(code.length / 1024).toFixed(0)} KiB, ` +
        `build id ${buildIdFor(code)})`,
    ),
  )
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
