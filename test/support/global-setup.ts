import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../dev/embedded-postgres';
import { migrate } from '../../lib/db/migrate';
import { freePort } from '../../dev/free-port';
import { PROJECT_ROOT } from '../../lib/paths';
import { TEMPORAL_CLI, TEMPORAL_TEST_SERVER, ensureTool } from '../../dev/temporal-cli';
import { FAST_DRAINAGE, startDevServer, type DevServer } from '../../dev/temporal-dev-server';
import { writeWorkflowBundle } from '../../worker/workflow-bundle';
import { testDatabaseUrl } from './env';

const say = (msg: string) => console.log(`[test setup] ${msg}`);

async function recreateDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = decodeURIComponent(admin.pathname.slice(1));
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `The tests need PostgreSQL at ${admin.host} and could not connect (${(err as Error).message}).\n` +
        `DATABASE_URL is set, so the suite uses that server (its <database>_test); start it,\n` +
        `or unset DATABASE_URL and the suite runs its own throw-away PostgreSQL.`,
    );
  }
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

let server: DevServer | undefined;
let database: EmbeddedPostgres | undefined;
/** Stops the suite's own PostgreSQL and deletes its cluster; nothing to do for a DATABASE_URL server. */
let stopDatabase = async (): Promise<void> => undefined;
const TMP_PREFIX = 'order-saga-test-pg-';

/**
 * Throw-away clusters of earlier runs that were killed before their teardown:
 * the pid in the name is the vitest process that made it.
 */
function removeAbandonedClusters(): void {
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(name.slice(TMP_PREFIX.length).split('-')[0]);
    if (!name.startsWith(TMP_PREFIX) || !Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/**
 * With DATABASE_URL set, the suite's database lives next to it. Without, the
 * suite runs its own PostgreSQL on a throw-away cluster in the temp directory
 * (removed at teardown), as a fresh machine with no PostgreSQL would.
 */
async function suiteDatabase(): Promise<string> {
  if (process.env.DATABASE_URL) return testDatabaseUrl(process.env.DATABASE_URL);
  removeAbandonedClusters();
  const dir = mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
  // mkdtemp makes it 0700; run as root, PostgreSQL runs as another user who must enter it.
  chmodSync(dir, 0o755);
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // Last resort when the run ends without teardown (a setup error, a Ctrl-C):
  // no server and no directory left behind.
  process.once('exit', () => {
    if (database?.child.exitCode === null) database.child.kill('SIGKILL');
    removeDir();
  });
  say(`DATABASE_URL is unset: starting a throw-away embedded PostgreSQL in ${dir}`);
  database = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    logFile: path.join(dir, 'postgres.log'),
    ephemeral: true,
    say: (line) => say(`  ${line}`),
  });
  stopDatabase = async () => {
    await database?.stop();
    removeDir();
  };
  say(`  PostgreSQL on 127.0.0.1:${database.port}`);
  return database.databaseUrl('orders_test');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  try {
    return await setupSuite(project);
  } catch (err) {
    // Vitest runs no teardown for a setup that threw.
    await server?.stop();
    await stopDatabase();
    throw err;
  }
}

async function setupSuite(project: TestProject): Promise<() => Promise<void>> {
  say('checking the Temporal CLI and the time-skipping test server (installed into .tools/ on first run)');
  const temporalCliPath = ensureTool(TEMPORAL_CLI, say);
  const testServerPath = ensureTool(TEMPORAL_TEST_SERVER, say);

  const databaseUrl = await suiteDatabase();
  say(`recreating ${new URL(databaseUrl).pathname.slice(1)} and applying migrations`);
  await recreateDatabase(databaseUrl);
  await migrate(databaseUrl);

  say('bundling the workflow code once for every worker in the suite');
  const workflowBundlePath = path.join(PROJECT_ROOT, '.data', 'test', 'workflow-bundle.js');
  await writeWorkflowBundle(workflowBundlePath);

  say('starting a Temporal dev server (in memory, headless) for the end-to-end tests');
  server = await startDevServer({
    cli: temporalCliPath,
    port: await freePort(),
    uiPort: null,
    stdio: 'ignore',
    // A version that stopped being current reports DRAINED within seconds, not minutes
    // (test/e2e/worker-versioning.e2e.test.ts).
    dynamicConfig: FAST_DRAINAGE,
  });
  say(`Temporal dev server on ${server.address}`);

  project.provide('testEnv', {
    databaseUrl,
    temporalAddress: server.address,
    temporalCliPath,
    testServerPath,
    workflowBundlePath,
  });
  return async () => {
    await server?.stop();
    await stopDatabase();
  };
}

