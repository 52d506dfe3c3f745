import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, type Pool } from '../../lib/db/pool';
import { testPool } from '../support/db';

/**
 * A PostgreSQL restart closes every connection, including one held by a
 * transaction between two of its statements. Found by `npm run chaos`: the
 * closed connection's 'error' event had no listener while the client was
 * checked out of the pool, and it crashed the API and the worker.
 */
describe('inTransaction when the server closes the connection', () => {
  let pool: Pool;
  let admin: Pool;
  beforeAll(() => {
    pool = testPool();
    admin = testPool();
  });
  afterAll(async () => {
    await pool.end();
    await admin.end();
  });

  it('fails the transaction, not the process, when the connection dies between its statements', async () => {
    const transaction = inTransaction(pool, async (tx) => {
      const { pid } = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      // The client sits idle while its connection is closed under it.
      await sleep(300);
      await tx.query('SELECT 1');
    });
    await expect(transaction).rejects.toThrow();
    // The pool replaces the dead connection.
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
