import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../../lib/config';
import { createLogger } from '../../../lib/logger';
import { connectClient, ensureSearchAttributes, nativeConnectionOptions } from '../../../lib/temporal/connection';
import { deploymentVersion, makeCurrentVersion } from '../../../lib/temporal/deployment';
import { sagaWorkerOptions, simulatedServices, workflowCode } from '../../../worker/options';
import { installWorkerRuntime } from '../../../worker/runtime';
import { runProcess } from '../runtime';
import { floorActivities } from './activities';

/**
 * The floor design's worker: worker/main.ts's worker (same runtime, bundle,
 * Worker Deployment, options and tuning variables) with floorActivities in place
 * of the saga's. FLOOR_FINAL_FILE is where it records orders that reached a final status.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const finalFile = process.env.FLOOR_FINAL_FILE;
  if (!finalFile) throw new Error('FLOOR_FINAL_FILE is unset');
  installWorkerRuntime(config, createLogger('floor-worker', config.LOG_LEVEL));
  const client = await connectClient(config.temporal);
  await ensureSearchAttributes(client, config.TEMPORAL_NAMESPACE);
  const code = await workflowCode();
  const version = deploymentVersion(config, code);
  const connection = await NativeConnection.connect(nativeConnectionOptions(config.temporal, config.TEMPORAL_GRPC_COMPRESSION));
  const worker = await Worker.create({
    connection,
    ...sagaWorkerOptions(config, floorActivities(simulatedServices(config), finalFile), code, version),
  });
  const running = worker.run();
  await makeCurrentVersion(client, version);
  await client.connection.close();
  await running;
  await connection.close();
}

runProcess(main);
