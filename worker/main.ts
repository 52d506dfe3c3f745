// First: tracing must be running before pg is loaded.
import './tracing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ConfigError, loadConfig, requireDatabaseUrl } from '../lib/config';
import { DatabaseUnreachableError, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { createLogger } from '../lib/logger';
import { activeTracing } from '../lib/telemetry/tracing';
import { TemporalUnreachableError, connectClient, connectionOptions, ensureSearchAttributes } from '../lib/temporal/connection';
import { makeCurrentVersion } from '../lib/temporal/deployment';
import { deploymentVersion, orderWorkerOptions, workflowCode } from './options';
import { installWorkerRuntime } from './runtime';

/**
 * The worker process: polls TEMPORAL_TASK_QUEUE, runs the order saga and its
 * activities. On SIGINT/SIGTERM it stops polling and lets running activities
 * finish (up to the shutdown grace time) before closing the pool; anything cut
 * off is retried by Temporal on another worker, and every activity is idempotent.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const databaseUrl = requireDatabaseUrl(config, 'npm run worker');
  const logger = createLogger('worker', config.LOG_LEVEL);
  installWorkerRuntime(config, logger);

  await createDatabaseIfMissing(databaseUrl);
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, config.PG_POOL_SIZE);

  const client = await connectClient(config.temporal);
  try {
    const added = await ensureSearchAttributes(client, config.TEMPORAL_NAMESPACE);
    if (added.length) logger.info({ added }, 'registered search attributes');
  } catch (err) {
    // Temporal Cloud and roles without operator rights may not list or add them; the
    // namespace's owner registers them once (docs/operations.md), and a start that
    // meets them missing is answered 503 by the API, never half-done.
    logger.warn({ err: (err as Error).message }, 'could not check or register the search attributes; they must exist on the namespace');
  }
  const code = await workflowCode();
  const version = deploymentVersion(config, code);
  const connection = await NativeConnection.connect(connectionOptions(config.temporal));
  const worker = await Worker.create({ connection, ...orderWorkerOptions(config, pool, code, version) });
  logger.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      deployment: version.deploymentName,
      buildId: version.buildId,
      metrics: config.WORKER_METRICS_PORT ? `http://0.0.0.0:${config.WORKER_METRICS_PORT}/metrics` : 'off',
    },
    `worker started: build ${version.buildId} of deployment ${version.deploymentName}`,
  );
  const running = worker.run();
  if (config.WORKER_SET_CURRENT === '1') {
    // Only once the worker polls does the server know its version.
    await makeCurrentVersion(client, version)
      .then(() => logger.info({ buildId: version.buildId }, 'this build is now the current version: new orders start on it'))
      .catch((err: unknown) => logger.error({ err }, 'could not make this build the current version'));
  }
  await client.connection.close();

  // Worker.run() installs its own SIGINT/SIGTERM handlers that call shutdown().
  await running;
  await pool.end();
  await connection.close();
  await activeTracing()?.shutdown();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  const expected =
    err instanceof ConfigError || err instanceof DatabaseUnreachableError || err instanceof TemporalUnreachableError;
  console.error(expected ? (err as Error).message : err);
  process.exit(1);
});
