// First: tracing must be running before express, http and pg are loaded.
import './tracing';
import { Client, Connection } from '@temporalio/client';
import { createServer } from 'node:http';
import { parseApiKeys, type ApiKeyEntry } from '../lib/api-keys';
import { ConfigError, apiExposure, loadConfig, requireDatabaseUrl } from '../lib/config';
import { DatabaseUnreachableError, START_UP_WAIT_MS, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { createLogger, type Logger } from '../lib/logger';
import { connectionOptions } from '../lib/temporal/connection';
import { orderDataConverter } from '../lib/temporal/data-converter';
import { tracingClientInterceptors } from '../lib/telemetry/temporal';
import { activeTracing } from '../lib/telemetry/tracing';
import { createApp } from './app';
import { scheduleStartSweep } from './orders/start-sweep';
import { temporalOrderWorkflows } from './orders/workflow-gateway';

/**
 * The API process. It connects to Temporal lazily so that it starts, and answers
 * /readyz with 503, while Temporal is down; orders then get 503 and nothing is
 * written. On SIGINT/SIGTERM it stops accepting connections, finishes requests
 * in flight, then closes its pool and connection.
 *
 * Without API_KEYS it refuses to start where NODE_ENV=production (unless
 * ALLOW_OPEN_API=1), and otherwise serves open on loopback only: apiExposure().
 */
async function main(): Promise<void> {
  const config = loadConfig();
  // Before anything else: a production API without keys stops here, whatever else is missing.
  const exposure = apiExposure(config);
  const databaseUrl = requireDatabaseUrl(config, 'npm run api');
  const logger = createLogger('api', config.LOG_LEVEL);
  await createDatabaseIfMissing(databaseUrl, {
    waitMs: START_UP_WAIT_MS,
    onWait: (reason) => logger.warn({ reason }, `PostgreSQL is not reachable yet; trying again for up to ${START_UP_WAIT_MS / 1000} s`),
  });
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, config.PG_POOL_SIZE);
  const connection = Connection.lazy(connectionOptions(config.temporal));
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    // Tracing and payload encryption; both undefined (SDK defaults) unless configured.
    interceptors: tracingClientInterceptors(activeTracing()),
    dataConverter: orderDataConverter(config.PAYLOAD_ENCRYPTION_KEYS),
  });

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
    trustProxy: config.TRUST_PROXY,
    // The open demo listens on loopback: only its names are served (DNS rebinding).
    loopbackHostsOnly: exposure.open && exposure.host !== undefined,
  });
  const server = createServer(app);
  // Keep-alive longer than a typical load balancer's idle timeout, so the LB closes first.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.PORT, exposure.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info({ port, host: exposure.host ?? 'every interface' }, `API listening on http://127.0.0.1:${port}`);
  if (exposure.warning) logger.warn(exposure.warning);
  else logSecurity(logger, parseApiKeys(config.API_KEYS));
  // Withdraws orders whose request this or another API process never answered.
  const sweep = scheduleStartSweep(pool, logger);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API stopping');
    sweep.stop();
    server.close(async () => {
      await pool.end();
      await connection.close();
      await activeTracing()?.shutdown();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** Who may call, said once at start: caller names only, never a key. */
function logSecurity(logger: Logger, entries: readonly ApiKeyEntry[]): void {
  // A caller being rotated has two keys: count callers by name, and say how many keys.
  const callers = [...new Set(entries.map((e) => e.name))];
  const admins = [...new Set(entries.filter((e) => e.admin).map((e) => e.name))];
  logger.info(
    { callers, admins, keys: entries.length },
    `API keys required: ${entries.length} keys for ${callers.length} callers, ${admins.length} admin`,
  );
  if (admins.length === 0) {
    logger.warn('no admin in API_KEYS (name:admin=key): catalogue writes are refused, and orders without an owner are visible to no caller');
  }
}

main().catch((err: unknown) => {
  const expected = err instanceof ConfigError || err instanceof DatabaseUnreachableError;
  console.error(expected ? (err as Error).message : err);
  process.exit(1);
});
