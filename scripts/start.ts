import path from 'node:path';
import { seedCatalogueIfEmpty } from '../store/catalogue';
import { ConfigError, apiExposure, loadConfig } from '../lib/config';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgres } from '../dev/embedded-postgres';
import { DatabaseUnreachableError, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { PROJECT_ROOT } from '../lib/paths';
import { TEMPORAL_CLI, ensureTool } from '../dev/temporal-cli';
import { TemporalUnreachableError, connectClient, connectionOptions, waitForTemporal } from '../lib/temporal/connection';
import type { TemporalConnectionSettings } from '../lib/temporal/client-config';
import {
  RAN_UNVERSIONED,
  deploymentVersion,
  openOrdersByVersion,
  ordersOnOtherBuilds,
  type OpenOrdersByVersion,
} from '../lib/temporal/deployment';
import { FAST_DRAINAGE, startDevServer } from '../dev/temporal-dev-server';
import { writeWorkflowBundle } from '../worker/workflow-bundle';
import { waitForHttp } from '../dev/wait-for-http';
import { ProcessGroup } from '../dev/process-group';

/**
 * `npm start`: the whole stack on one machine. PostgreSQL (the embedded one in
 * .data/postgres unless DATABASE_URL names a server), migrations, seed
 * catalogue, the Temporal dev server (unless TEMPORAL_ADDRESS names one), then
 * the worker and the API as child processes with prefixed output. Ctrl-C or
 * SIGTERM stops them all, API first, so no new orders arrive while the worker
 * drains, and the database last, once nothing uses it.
 */
const step = (msg: string) => console.log(`\u25b6 ${msg}`);
const DATA_DIR = path.join(PROJECT_ROOT, '.data');
const rel = (file: string) => path.relative(process.cwd(), file) || file;

/**
 * The demo of the problem statement: services that take 200, 300 and 150 ms, so
 * an order visibly moves through its steps. Only `npm start` sets them, and only
 * when unset; the components' own defaults stay 0 for tests and production.
 */
const DEMO_LATENCIES = { INVENTORY_LATENCY_MS: '200', PAYMENT_LATENCY_MS: '300', NOTIFY_LATENCY_MS: '150' } as const;

let database: Promise<EmbeddedPostgres> | undefined;
async function stopEverything(): Promise<void> {
  await group.stop();
  // The embedded server runs in its own process group (a Ctrl-C does not reach
  // it), so it is still serving the worker's last writes until here.
  await database?.then((db) => db.stop()).catch(() => undefined);
}

const group = new ProcessGroup((name, code) => {
  console.error(`${name} exited unexpectedly (code ${code}); stopping the stack.`);
  void stopEverything().then(() => process.exit(1));
});
let shuttingDown = false;
function shutdown(signal: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`\n${signal}: stopping api, worker, Temporal${database ? ' and PostgreSQL' : ''}...`);
  void stopEverything().then(() => process.exit(0));
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

/** The URL without its password, for the console. */
function shown(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function main(): Promise<void> {
  const config = loadConfig();
  // The API would refuse to start (production without API_KEYS): say so now, not after a minute's wait.
  const exposure = apiExposure(config);
  // PostgreSQL first: it is the dependency most often missing, and checking it is quick.
  let databaseUrl = config.DATABASE_URL;
  if (databaseUrl) {
    step(`Using the PostgreSQL at ${shown(databaseUrl)} (DATABASE_URL is set)`);
  } else {
    const dataDir = path.join(DATA_DIR, 'postgres');
    const logFile = path.join(DATA_DIR, 'postgres.log');
    step(`Starting the embedded PostgreSQL (DATABASE_URL is unset): data in ${rel(dataDir)}, its log in ${rel(logFile)}`);
    database = startEmbeddedPostgres({ dataDir, logFile, detached: true, say: (line) => step(`  ${line}`) });
    const db = await database;
    databaseUrl = db.databaseUrl('orders');
    step(`  PostgreSQL listening on 127.0.0.1:${db.port} (user postgres, password in ${rel(dataDir)}.password)`);
  }
  if (await createDatabaseIfMissing(databaseUrl)) step('  created the database');
  const applied = await migrate(databaseUrl);
  step(`  ${applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date'}`);
  const pool = createPool(databaseUrl, 1);
  const seeded = await seedCatalogueIfEmpty(pool);
  // Orders an earlier run accepted and did not finish: their workflows live on in
  // Temporal and carry on as soon as the worker polls again.
  const unfinished = (
    await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM orders WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')",
    )
  ).rows[0]!.n;
  await pool.end();
  if (seeded) step(`  seeded the catalogue with ${seeded} products`);

  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl = config.TEMPORAL_UI_URL;
  // With payload encryption on, the Web UI decodes through our codec server (started below).
  const codecEndpoint = config.PAYLOAD_ENCRYPTION_KEYS ? `http://127.0.0.1:${config.CODEC_SERVER_PORT}/codec` : undefined;
  if (config.temporal.addressConfigured) {
    step(`Using the Temporal server at ${temporalAddress}, namespace ${config.TEMPORAL_NAMESPACE} (TEMPORAL_ADDRESS or a temporal.toml profile)`);
    await waitForTemporal(connectionOptions(config.temporal), 10_000);
  } else {
    step('Locating the Temporal CLI');
    const cli = ensureTool(TEMPORAL_CLI, (line) => step(line));
    const logFile = path.join(DATA_DIR, 'temporal.log');
    step(`Starting the Temporal dev server (workflows persist in .data/temporal.db; its own output goes to ${rel(logFile)})`);
    const server = await startDevServer({
      cli,
      port: 7233,
      uiPort: 8233,
      // The namespace the worker and API use (TEMPORAL_NAMESPACE or the profile's), created at start.
      namespace: config.TEMPORAL_NAMESPACE,
      uiCodecEndpoint: codecEndpoint,
      dbFile: path.join(DATA_DIR, 'temporal.db'),
      logFile,
      dynamicConfig: FAST_DRAINAGE,
    });
    group.adopt('temporal', server.child);
    temporalAddress = server.address;
    uiUrl = server.uiUrl ?? uiUrl;
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_UI_URL: uiUrl,
    // The children's stdout is our pipe, so they cannot see the terminal themselves.
    ...(process.stdout.isTTY && !process.env.LOG_PRETTY ? { LOG_PRETTY: '1' } : {}),
  };
  // `||`, not `??`: an empty value means unset, as loadConfig() treats it.
  for (const [name, ms] of Object.entries(DEMO_LATENCIES)) env[name] = process.env[name] || ms;
  // The worker's metrics, like the open API, stay on this machine unless told otherwise.
  env.WORKER_METRICS_HOST = process.env.WORKER_METRICS_HOST || '127.0.0.1';
  step(
    `Simulated services: inventory ${env.INVENTORY_LATENCY_MS} ms, payment ${env.PAYMENT_LATENCY_MS} ms, ` +
      `notification ${env.NOTIFY_LATENCY_MS} ms (INVENTORY_LATENCY_MS, PAYMENT_LATENCY_MS, NOTIFY_LATENCY_MS)`,
  );
  step('Bundling the workflow code (a few seconds)');
  env.WORKFLOW_BUNDLE_PATH = path.join(PROJECT_ROOT, '.data', 'workflow-bundle.js');
  const code = await writeWorkflowBundle(env.WORKFLOW_BUNDLE_PATH);
  // The worker's build (Worker Versioning): derived from the code unless WORKER_BUILD_ID names it
  // (refused here, before anything starts, when it names other code), and made current once the
  // worker polls, so new orders start on the code just bundled.
  const version = deploymentVersion(config, code);
  env.WORKER_BUILD_ID = version.buildId;
  env.WORKER_SET_CURRENT = '1';
  step(`  build ${version.buildId} of the Worker Deployment ${version.deploymentName} (new orders start on it; runs started by other builds stay on theirs)`);
  // Counted before the worker polls: once a build is current, an unversioned run's next
  // workflow task would go to it, and this build cannot replay a 0.3 run. An order no
  // worker has taken yet has no version either, and is not one: it starts on this build.
  const open = await countOpenOrders({ ...config.temporal, address: temporalAddress });
  if (open.unversioned.length > 0) {
    const n = open.unversioned.length;
    throw new UnversionedOrdersError(
      `${n} unfinished order${n === 1 ? ' was' : 's were'} started by a release without Worker Versioning (0.3 or older), ` +
        `and this build cannot replay ${n === 1 ? 'it' : 'them'}; making it current would hand ${n === 1 ? 'it' : 'them'} to it.\n` +
        `Let them finish on that release first (its \`npm start\`), or, for a dev stack, end them: .tools/bin/temporal workflow terminate --query ` +
        `"WorkflowType = 'orderSaga' AND ExecutionStatus = 'Running' AND ${RAN_UNVERSIONED}" --reason "upgrade to 0.4" --yes. ` +
        'docs/operations.md, "Upgrading from 0.3".',
    );
  }
  const tsx = ['--import', 'tsx'];
  step('Starting the worker');
  group.spawn('worker', process.execPath, [...tsx, path.join(PROJECT_ROOT, 'worker', 'main.ts')], env);
  step('Starting the API');
  group.spawn('api', process.execPath, [...tsx, path.join(PROJECT_ROOT, 'api', 'main.ts')], env);
  if (codecEndpoint) {
    step(`Starting the codec server for the Web UI (${codecEndpoint}; PAYLOAD_ENCRYPTION_KEYS is set)`);
    group.spawn('codec', process.execPath, [...tsx, path.join(PROJECT_ROOT, 'scripts', 'codec-server.ts')], env);
  }
  const readyUrl = `http://127.0.0.1:${config.PORT}/readyz`;
  if (!(await waitForHttp(readyUrl, 60_000))) {
    throw new Error(`${readyUrl} did not become ready within 60 s; see the [api] lines above.`);
  }
  const elsewhere = ordersOnOtherBuilds(open, version);

  console.log(
    [
      '',
      'Order service is up:',
      `  Console      http://127.0.0.1:${config.PORT}/`,
      `  API          http://127.0.0.1:${config.PORT}/api/products   (orders: POST /api/orders)`,
      `  Temporal UI  ${uiUrl}`,
      `  Metrics      http://127.0.0.1:${config.PORT}/metrics (API)` +
        (config.WORKER_METRICS_PORT ? `, http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics (worker)` : ''),
      exposure.open
        ? `  Access       OPEN: no API_KEYS, so no key is asked and every order is visible${exposure.host ? `; listening on ${exposure.host} only` : ''}`
        : '  Access       API keys required (API_KEYS): Authorization: Bearer <key>',
      unfinished
        ? `Found ${unfinished} unfinished order${unfinished === 1 ? '' : 's'} from an earlier run; those of this build are resuming now.`
        : 'No unfinished orders from earlier runs.',
      ...elsewhere,
      'Try:',
      `  curl -s -XPOST localhost:${config.PORT}/api/orders -H 'content-type: application/json' \\`,
      ...(exposure.open ? [] : [`    -H 'authorization: Bearer <one of API_KEYS>' \\`]),
      `    -d '{"customerId":"c-1","items":[{"productId":"sku-1","quantity":2}]}'`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

/** A dev stack with runs of a release before Worker Versioning, which this build must not be handed. */
class UnversionedOrdersError extends Error {}

async function countOpenOrders(settings: TemporalConnectionSettings): Promise<OpenOrdersByVersion> {
  const client = await connectClient(settings);
  try {
    return await openOrdersByVersion(client);
  } finally {
    await client.connection.close();
  }
}

main().catch((err: unknown) => {
  const expected =
    err instanceof ConfigError ||
    err instanceof DatabaseUnreachableError ||
    err instanceof EmbeddedPostgresError ||
    err instanceof TemporalUnreachableError ||
    err instanceof UnversionedOrdersError;
  console.error(expected ? `\n${(err as Error).message}` : err);
  void stopEverything().then(() => process.exit(1));
});
