import pg from 'pg';

// Return BIGINT (count(*), sum()) as a JS number: our sums are cents of single
// orders and counts of rows, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = pg.Pool | pg.PoolClient;

/**
 * Server-side limits on every connection of our pools. Our statements take
 * milliseconds; one that runs for seconds is waiting on a lock held by a stuck
 * peer, and an activity abandoned by its worker (timed out, cancelled) must not
 * keep a connection and its locks for longer than this. No transaction of ours
 * waits on a network call, so an idle one is a leak.
 */
export const STATEMENT_TIMEOUT_MS = 10_000;
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 15_000;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  // An idle client losing its connection must not crash the process; the pool
  // drops it and the next query opens a new one.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * No connection to PostgreSQL could be had (refused, timed out, no such host):
 * whatever was to be sent on it never was, so it changed nothing.
 */
export class DatabaseNotReachedError extends Error {
  constructor(cause: unknown) {
    super(`PostgreSQL could not be reached: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Runs `fn` on one connection of `pool`. If none can be had, DatabaseNotReachedError: `fn` did not run. */
export async function onConnection<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new DatabaseNotReachedError(err);
  }
  // The pool listens for a connection's 'error' only while it is idle in the pool.
  // Checked out, a connection the server closes between our statements (a
  // PostgreSQL restart) would emit it unheard and crash the process; the next
  // statement fails with the error instead, and the pool drops the connection.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    return await fn(client);
  } finally {
    client.removeListener('error', ignore);
    client.release();
  }
}

/** Runs `fn` in one transaction; rolls back on any error and rethrows it. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return onConnection(pool, async (client) => {
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** The socket errors of a server that is down, restarting or cut off. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);
/** SQLSTATEs of the same: 57P01-57P03 the server shutting down, crashed or still starting; 53300 no connection slot. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * Whether `err` says PostgreSQL is unreachable or went away (as opposed to a
 * statement it refused): no connection could be had, or the one in use dropped.
 * It says nothing about whether a statement already sent took effect.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseNotReachedError) return true;
  // Node's connect to every address of a host name (localhost: ::1 and 127.0.0.1) fails as one AggregateError.
  if (err instanceof AggregateError) return err.errors.some(isDatabaseUnavailable);
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  // pg's and pg-pool's own errors for a connection that failed or dropped carry no code.
  return /^Connection terminated|^timeout exceeded when trying to connect|is not queryable$/.test(err.message);
}
