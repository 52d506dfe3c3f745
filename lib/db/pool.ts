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

/** Runs `fn` in one transaction; rolls back on any error and rethrows it. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // The pool listens for a connection's 'error' only while it is idle in the pool.
  // Checked out, a connection the server closes between our statements (a
  // PostgreSQL restart) would emit it unheard and crash the process; the next
  // statement fails with the error instead, and the pool drops the connection.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.removeListener('error', ignore);
    client.release();
  }
}
