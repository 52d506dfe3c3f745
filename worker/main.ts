// First: tracing must be running before pg is loaded.
import './tracing';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ConfigError, loadConfig, requireDatabaseUrl } from '../lib/config';
import { DatabaseUnreachableError, START_UP_WAIT_MS, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { createLogger, type Logger } from '../lib/logger';
import { activeTracing } from '../lib/telemetry/tracing';
import { TemporalUnreachableError, connectClient, ensureSearchAttributes, nativeConnectionOptions } from '../lib/temporal/connection';
import {
  buildIdFor,
  deploymentCurrentBuildId,
  deploymentVersion,
  makeCurrentVersion,
  namesCode,
  type DeploymentVersion,
} from '../lib/temporal/deployment';
import { orderWorkerOptions, workflowCode } from './options';
import { installWorkerRuntime, metricsHost } from './runtime';

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
  // The code and its build id first: a WORKER_BUILD_ID that names other code stops the
  // start here, before anything is migrated or polled (lib/temporal/deployment.ts).
  const code = await workflowCode();
  const version = deploymentVersion(config, code);
  if (!namesCode(version.buildId, code)) {
    logger.warn(
      { buildId: version.buildId, derived: buildIdFor(code) },
      `WORKER_BUILD_ID_FORCE=1: joining as ${version.buildId}, which names no hash of this code; whatever chose it must keep it to this code alone`,
    );
  }

  await createDatabaseIfMissing(databaseUrl, {
    waitMs: START_UP_WAIT_MS,
    onWait: (reason) => logger.warn({ reason }, `PostgreSQL is not reachable yet; trying again for up to ${START_UP_WAIT_MS / 1000} s`),
  });
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
  const connection = await NativeConnection.connect(nativeConnectionOptions(config.temporal, config.TEMPORAL_GRPC_COMPRESSION));
  const worker = await Worker.create({ connection, ...orderWorkerOptions(config, pool, code, version) });
  logger.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      deployment: version.deploymentName,
      buildId: version.buildId,
      metrics: config.WORKER_METRICS_PORT ? `http://${metricsHost(config)}:${config.WORKER_METRICS_PORT}/metrics` : 'off',
    },
    `worker started: build ${version.buildId} of deployment ${version.deploymentName}`,
  );
  const running = worker.run();
  try {
    await takeNewOrders(client, version, config.WORKER_SET_CURRENT, logger);
  } catch (err) {
    // A worker that was asked to take the new orders and cannot would look healthy while
    // every new order waited for a current version: stop, loudly, instead.
    logger.error({ err }, 'could not make this build the current version; stopping');
    worker.shutdown();
    await running.catch(() => undefined);
    process.exit(1);
  }
  await client.connection.close();

  // Worker.run() installs its own SIGINT/SIGTERM handlers that call shutdown().
  await running;
  await pool.end();
  await connection.close();
  await activeTracing()?.shutdown();
  logger.info('worker stopped');
}

/** WORKER_SET_CURRENT: makes this build the deployment's current version (1), or only while none is (if-none). */
async function takeNewOrders(client: Client, version: DeploymentVersion, mode: '0' | '1' | 'if-none', logger: Logger): Promise<void> {
  if (mode === '0') return;
  // Only once the worker polls does the server know its version.
  if (mode === 'if-none') {
    const current = await deploymentCurrentBuildId(client, version.deploymentName);
    if (current !== undefined) {
      if (current !== version.buildId) {
        logger.warn({ current, buildId: version.buildId }, `build ${current} takes new orders; make this one current to release it (docs/operations.md)`);
      }
      return;
    }
  }
  await makeCurrentVersion(client, version);
  logger.info({ buildId: version.buildId }, 'this build is now the current version: new orders start on it');
}

main().catch((err: unknown) => {
  const expected =
    err instanceof ConfigError || err instanceof DatabaseUnreachableError || err instanceof TemporalUnreachableError;
  console.error(expected ? (err as Error).message : err);
  process.exit(1);
});
