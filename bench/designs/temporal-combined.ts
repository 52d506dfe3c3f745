import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createApp } from '../../api/app';
import { temporalOrderWorkflows } from '../../api/orders/workflow-gateway';
import { loadConfig, requireDatabaseUrl } from '../../lib/config';
import { createPool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';
import { nativeConnectionOptions } from '../../lib/temporal/connection';
import { orderDataConverter } from '../../lib/temporal/data-converter';
import { deploymentVersion, makeCurrentVersion } from '../../lib/temporal/deployment';
import { tracingClientInterceptors } from '../../lib/telemetry/temporal';
import { activeTracing } from '../../lib/telemetry/tracing';
import { orderWorkerOptions, workflowCode } from '../../worker/options';
import { runProcess } from './runtime';

/**
 * A tuning variant, not a deployment: the API and the worker in one process on
 * one NativeConnection, which is what eager workflow start needs (EAGER_START=1).
 * Run without EAGER_START it is the control: co-location alone.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('bench-temporal-combined', config.LOG_LEVEL);
  const pool = createPool(requireDatabaseUrl(config, 'a benchmark design'), config.PG_POOL_SIZE);
  const connection = await NativeConnection.connect(nativeConnectionOptions(config.temporal, config.TEMPORAL_GRPC_COMPRESSION));
  const code = await workflowCode();
  const version = deploymentVersion(config, code);
  const worker = await Worker.create({ connection, ...orderWorkerOptions(config, pool, code, version) });
  // As the API builds its client (api/main.ts): payload encryption and tracing when configured.
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: orderDataConverter(config.PAYLOAD_ENCRYPTION_KEYS),
    interceptors: tracingClientInterceptors(activeTracing()),
  });
  const app = createApp({
    pool,
    workflows: temporalOrderWorkflows(client, config.TEMPORAL_TASK_QUEUE, { eagerStart: process.env.EAGER_START === '1' }),
    logger,
    apiKeys: config.API_KEYS,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    namespace: config.TEMPORAL_NAMESPACE,
    paymentBudgetMs: config.PAYMENT_BUDGET_MS,
    maxOrdersInFlight: config.MAX_ORDERS_IN_FLIGHT,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    corsOrigins: config.CORS_ORIGINS,
  });
  const server = app.listen(config.PORT);
  process.on('SIGTERM', () => server.close(() => worker.shutdown()));
  const running = worker.run();
  await makeCurrentVersion(client, version);
  await running;
  await pool.end();
  await connection.close();
  process.exit(0);
}

runProcess(main);
