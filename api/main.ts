import { Client, Connection } from '@temporalio/client';
import { createServer } from 'node:http';
import { ConfigError, loadConfig, requireDatabaseUrl } from '../lib/config';
import { DatabaseUnreachableError, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { createLogger } from '../lib/logger';
import { connectionOptions } from '../lib/temporal/connection';
import { createApp } from './app';
import { scheduleStartRedrive } from './orders/start-redrive';
import { temporalOrderWorkflows } from './orders/workflow-gateway';

/**
 * The API process. It connects to Temporal lazily so that it starts, and answers
 * /readyz with 503, while Temporal is down; orders then get 503 and nothing is
 * written. On SIGINT/SIGTERM it stops accepting connections, finishes requests
 * in flight, then closes its pool and connection.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const databaseUrl = requireDatabaseUrl(config, 'npm run api');
  const logger = createLogger('api', config.LOG_LEVEL);
  await createDatabaseIfMissing(databaseUrl);
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, config.PG_POOL_SIZE);
  const connection = Connection.lazy(connectionOptions(config.temporal));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });

  const workflows = temporalOrderWorkflows(client, config.TEMPORAL_TASK_QUEUE);
  const app = createApp({
    pool,
    workflows,
    logger,
    apiKeys: config.API_KEYS,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    namespace: config.TEMPORAL_NAMESPACE,
    paymentBudgetMs: config.PAYMENT_BUDGET_MS,
    maxOrdersInFlight: config.MAX_ORDERS_IN_FLIGHT,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    corsOrigins: config.CORS_ORIGINS,
  });
  const server = createServer(app);
  // Keep-alive longer than a typical load balancer's idle timeout, so the LB closes first.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.PORT, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info({ port }, `API listening on http://127.0.0.1:${port}`);
  // Starts the sagas of orders whose start this or another API process left unconfirmed.
  const redrive = scheduleStartRedrive(pool, workflows, config.PAYMENT_BUDGET_MS, logger);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API stopping');
    redrive.stop();
    server.close(async () => {
      await pool.end();
      await connection.close();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const expected = err instanceof ConfigError || err instanceof DatabaseUnreachableError;
  console.error(expected ? (err as Error).message : err);
  process.exit(1);
});
