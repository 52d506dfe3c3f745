import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK_ID = 7_233_001;

export class DatabaseUnreachableError extends Error {}

function describeUnreachable(url: string, err: unknown): DatabaseUnreachableError {
  const u = new URL(url);
  const reason = err instanceof Error ? err.message : String(err);
  return new DatabaseUnreachableError(
    `PostgreSQL is not reachable at ${u.hostname}:${u.port || 5432} (${reason}).\n` +
      `Start that server (e.g. \`docker compose up -d postgres\`) or point DATABASE_URL at a running one; ` +
      `or unset DATABASE_URL and use \`npm start\`, which runs an embedded PostgreSQL.`,
  );
}

/** How a process that needs PostgreSQL at start-up waits for it (worker/main.ts, api/main.ts). */
export interface StartUpWait {
  /** How long to keep trying while the server refuses connections or is still starting; 0: fail at once. */
  waitMs: number;
  /** Called once, when the first try fails and the waiting begins. */
  onWait?: (reason: string) => void;
}

/**
 * The worker's and the API's wait: a PostgreSQL restart (crash recovery included)
 * takes seconds; a server still gone after this is not coming back by itself.
 */
export const START_UP_WAIT_MS = 30_000;

/** Errors of a server that is down, restarting or recovering: worth trying again. */
const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', '57P03' /* cannot connect now: starting up */, '57P01' /* admin shutdown */]);

/**
 * Connects to the server's `postgres` database, trying again within `wait.waitMs`
 * while the server is down or starting: a worker restarted while PostgreSQL
 * restarts would otherwise exit and count on its process manager.
 */
async function connectAdmin(url: string, wait: StartUpWait): Promise<pg.Client> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const deadline = Date.now() + wait.waitMs;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (!TRANSIENT.has(code ?? '') || Date.now() >= deadline) throw describeUnreachable(url, err);
      if (attempt === 1) wait.onWait?.((err as Error).message);
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** Creates the database named in `url` when it does not exist yet. */
export async function createDatabaseIfMissing(url: string, wait: StartUpWait = { waitMs: 0 }): Promise<boolean> {
  const target = new URL(url);
  const dbName = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const client = await connectAdmin(url, wait);
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
    if (exists.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
      return true;
    } catch (err) {
      // Another process created it between our check and our CREATE.
      if ((err as { code?: string }).code === '42P04') return false;
      throw err;
    }
  } finally {
    await client.end();
  }
}

/**
 * Applies every `migrations/NNN_name.sql` not yet recorded in `schema_migrations`,
 * each in its own transaction, under an advisory lock so that an API and a worker
 * starting together do not race. Returns the versions it applied.
 */
export async function migrate(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw describeUnreachable(url, err);
  }
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    // Nothing pending: no DDL at all, so a role with data rights only (docker/postgres-init.sql)
    // starts fine once the schema owner has migrated.
    const tracked = await client.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists");
    let done = new Set<string>();
    if (tracked.rows[0]!.exists) done = await appliedVersions(client);
    if (files.every((f) => done.has(f.replace(/\.sql$/, '')))) return applied;
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
    } catch (err) {
      if ((err as { code?: string }).code === '42501') throw pendingWithoutRights(url);
      throw err;
    }
    done = await appliedVersions(client);
    for (const file of files) {
      const version = file.replace(/\.sql$/, '');
      if (done.has(version)) continue;
      const sql = await readFile(path.join(MIGRATIONS_DIR, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        if ((err as { code?: string }).code === '42501') throw pendingWithoutRights(url);
        throw new Error(`Migration ${file} failed: ${(err as Error).message}`);
      }
      applied.push(version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

async function appliedVersions(client: pg.Client): Promise<Set<string>> {
  return new Set((await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
}

/** A process connected as the application role met a schema that is not up to date. */
function pendingWithoutRights(url: string): Error {
  const user = decodeURIComponent(new URL(url).username) || 'this role';
  return new Error(
    `Migrations are pending and ${user} may not change the schema. ` +
      'Run `npm run migrate` (the compose file\'s `migrate` service) with the schema owner\'s DATABASE_URL first.',
  );
}
