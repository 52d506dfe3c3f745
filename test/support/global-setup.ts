import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../lib/db/migrate';
import { freePort } from '../../lib/free-port';
import { PROJECT_ROOT } from '../../lib/paths';
import { TEMPORAL_CLI, TEMPORAL_TEST_SERVER, ensureTool } from '../../lib/temporal/cli';
import { startDevServer, type DevServer } from '../../lib/temporal/dev-server';
import { WORKFLOWS_PATH } from '../../worker/options';
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
        `Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n` +
        `or point DATABASE_URL at a running server (the suite uses <database>_test next to it).`,
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  say('checking the Temporal CLI and the time-skipping test server (installed into .tools/ on first run)');
  const temporalCliPath = ensureTool(TEMPORAL_CLI, say);
  const testServerPath = ensureTool(TEMPORAL_TEST_SERVER, say);

  const databaseUrl = testDatabaseUrl();
  say(`recreating ${new URL(databaseUrl).pathname.slice(1)} and applying migrations`);
  await recreateDatabase(databaseUrl);
  await migrate(databaseUrl);

  say('bundling the workflow code once for every worker in the suite');
  const outDir = path.join(PROJECT_ROOT, '.data', 'test');
  mkdirSync(outDir, { recursive: true });
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const workflowBundlePath = path.join(outDir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, code);

  say('starting a Temporal dev server (in memory, headless) for the end-to-end tests');
  server = await startDevServer({ cli: temporalCliPath, port: await freePort(), uiPort: null, stdio: 'ignore' });
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
  };
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (msg: string) => console.warn(msg),
  error: (msg: string) => console.error(msg),
};
