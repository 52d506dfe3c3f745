import path from 'node:path';
import { seedCatalogueIfEmpty } from '../activities/inventory/catalogue';
import { ConfigError, loadConfig } from '../lib/config';
import { DatabaseUnreachableError, createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { PROJECT_ROOT } from '../lib/paths';
import { TEMPORAL_CLI, ensureTool } from '../lib/temporal/cli';
import { TemporalUnreachableError, waitForTemporal } from '../lib/temporal/connection';
import { startDevServer } from '../lib/temporal/dev-server';
import { waitForHttp } from '../lib/wait-for-http';
import { ProcessGroup } from './process-group';

/**
 * `npm start`: the whole stack on one machine. Temporal dev server (unless
 * TEMPORAL_ADDRESS names one), database and migrations, seed catalogue, then the
 * worker and the API as child processes with prefixed output. Ctrl-C or SIGTERM
 * stops them all, API first, so no new orders arrive while the worker drains.
 */
const step = (msg: string) => console.log(`\u25b6 ${msg}`);

const group = new ProcessGroup((name, code) => {
  console.error(`${name} exited unexpectedly (code ${code}); stopping the stack.`);
  void group.stop().then(() => process.exit(1));
});
let shuttingDown = false;
function shutdown(signal: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`\n${signal}: stopping api, worker and Temporal...`);
  void group.stop().then(() => process.exit(0));
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

async function main(): Promise<void> {
  const config = loadConfig();
  // PostgreSQL first: it is the dependency most often missing, and checking it is instant.
  step('Preparing PostgreSQL');
  if (await createDatabaseIfMissing(config.DATABASE_URL)) step('  created the database');
  const applied = await migrate(config.DATABASE_URL);
  step(`  ${applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date'}`);
  const pool = createPool(config.DATABASE_URL, 1);
  const seeded = await seedCatalogueIfEmpty(pool);
  await pool.end();
  if (seeded) step(`  seeded the catalogue with ${seeded} products`);

  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl = config.TEMPORAL_UI_URL;
  if (process.env.TEMPORAL_ADDRESS) {
    step(`Using the Temporal server at ${temporalAddress} (TEMPORAL_ADDRESS is set)`);
    await waitForTemporal(temporalAddress, 10_000);
  } else {
    step('Locating the Temporal CLI');
    const cli = ensureTool(TEMPORAL_CLI, (line) => step(line));
    step('Starting the Temporal dev server (workflows persist in .data/temporal.db)');
    const server = await startDevServer({
      cli,
      port: 7233,
      uiPort: 8233,
      dbFile: path.join(PROJECT_ROOT, '.data', 'temporal.db'),
      stdio: 'pipe',
    });
    group.adopt('temporal', server.child);
    temporalAddress = server.address;
    uiUrl = server.uiUrl ?? uiUrl;
  }

  const env = { ...process.env, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_UI_URL: uiUrl };
  const tsx = ['--import', 'tsx'];
  step('Starting the worker (bundles the workflow code, a few seconds)');
  group.spawn('worker', process.execPath, [...tsx, path.join(PROJECT_ROOT, 'worker', 'main.ts')], env);
  step('Starting the API');
  group.spawn('api', process.execPath, [...tsx, path.join(PROJECT_ROOT, 'api', 'main.ts')], env);
  const readyUrl = `http://127.0.0.1:${config.PORT}/readyz`;
  if (!(await waitForHttp(readyUrl, 60_000))) {
    throw new Error(`${readyUrl} did not become ready within 60 s; see the [api] lines above.`);
  }

  console.log(
    [
      '',
      'Order service is up:',
      `  API          http://127.0.0.1:${config.PORT}/api/products   (orders: POST /api/orders)`,
      `  Temporal UI  ${uiUrl}`,
      `  Metrics      http://127.0.0.1:${config.PORT}/metrics`,
      'Try:',
      `  curl -s -XPOST localhost:${config.PORT}/api/orders -H 'content-type: application/json' \\`,
      `    -d '{"customerId":"c-1","items":[{"productId":"sku-1","quantity":2}]}'`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  const expected =
    err instanceof ConfigError || err instanceof DatabaseUnreachableError || err instanceof TemporalUnreachableError;
  console.error(expected ? `\n${(err as Error).message}` : err);
  void group.stop().then(() => process.exit(1));
});
