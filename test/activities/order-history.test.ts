import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getOrder,
  insertNewOrder,
  listOrders,
  markStarted,
  moveToNextAttempt,
  transition,
  withdrawStart,
} from '../../store/orders';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput, OrderRef } from '../../workflows/types';
import { freshProduct, testPool } from '../support/db';

/**
 * The status history (migration 006): written by PostgreSQL with every status
 * change, whichever write path makes it, and gone with a withdrawn order.
 */

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

async function placed(): Promise<{ input: OrderInput; ref: OrderRef; token: string }> {
  const product = await freshProduct(pool);
  const input: OrderInput = {
    orderId: randomUUID(),
    customerId: 'c-history',
    items: [{ productId: product.id, quantity: 1, priceCents: 500 }],
    amountCents: 500,
    paymentMethod: 'pm_card_visa',
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 60_000,
  };
  const token = randomUUID();
  expect(await insertNewOrder(pool, input, null, token)).toBe(true);
  return { input, ref: { orderId: input.orderId, attempt: 1 }, token };
}

const statuses = async (orderId: string) =>
  (await getOrder(pool, orderId))!.history.map((h) => (h.reason ? `${h.status}/${h.reason}` : h.status));

describe('order status history', () => {
  it('records every change, oldest first, with its time and reason; writes that change nothing add nothing', async () => {
    const { ref, token } = await placed();
    expect(await markStarted(pool, ref, 'run-1', token)).toBe(true);
    expect(await transition(pool, ref, ['PENDING'], 'RESERVED')).toBe(true);
    expect(await transition(pool, ref, ['PENDING'], 'RESERVED')).toBe(false); // a retried step
    expect(await transition(pool, ref, ['RESERVED'], 'COMPENSATING', 'PAYMENT_DECLINED')).toBe(true);
    expect(await transition(pool, ref, ['COMPENSATING'], 'FAILED', 'PAYMENT_DECLINED')).toBe(true);
    expect(await statuses(ref.orderId)).toEqual(['PENDING', 'RESERVED', 'COMPENSATING/PAYMENT_DECLINED', 'FAILED/PAYMENT_DECLINED']);
    const order = (await getOrder(pool, ref.orderId))!;
    const times = order.history.map((h) => Date.parse(h.at));
    expect(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1]!))).toBe(true);
    expect(order.history[0]).not.toHaveProperty('reason');
  });

  it('a retry is FAILED, then PENDING again; its withdrawal takes the PENDING back and leaves the row as it was', async () => {
    const { ref, token: first } = await placed();
    await markStarted(pool, ref, 'run-1', first);
    await transition(pool, ref, ['PENDING'], 'FAILED', 'PAYMENT_UNAVAILABLE');
    const row = async () => (await pool.query('SELECT * FROM orders WHERE id = $1', [ref.orderId])).rows[0];
    const before = await row();
    const next = { orderId: ref.orderId, attempt: 2 };
    const token = randomUUID();
    expect(await moveToNextAttempt(pool, next, token)).toBe(true);
    expect(await statuses(ref.orderId)).toEqual(['PENDING', 'FAILED/PAYMENT_UNAVAILABLE', 'PENDING']);
    expect(await withdrawStart(pool, next, token)).toBe('WITHDRAWN');
    expect(await statuses(ref.orderId)).toEqual(['PENDING', 'FAILED/PAYMENT_UNAVAILABLE']);
    expect(await row()).toEqual(before);
    // Withdrawn again (a retried call whose first reply was lost): still WITHDRAWN, still nothing changed.
    expect(await withdrawStart(pool, next, token)).toBe('WITHDRAWN');
    expect(await row()).toEqual(before);
    // The run of attempt 1 holds its claim as before: a retried claim of it still succeeds, another run's does not.
    expect(await markStarted(pool, ref, 'run-1', first)).toBe(true);
    expect(await markStarted(pool, ref, 'run-other', first)).toBe(false);
  });

  it('is rolled back with the change it belongs to', async () => {
    const { ref } = await placed();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await transition(client, ref, ['PENDING'], 'RESERVED');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await statuses(ref.orderId)).toEqual(['PENDING']);
  });

  it("a withdrawn order's history goes with it", async () => {
    const { ref, token } = await placed();
    expect(await withdrawStart(pool, ref, token)).toBe('WITHDRAWN');
    const left = await pool.query('SELECT count(*)::int AS n FROM order_status_history WHERE order_id = $1', [ref.orderId]);
    expect(left.rows[0].n).toBe(0);
  });

  it('startConfirmed, and the list filters by it and by failure reason', async () => {
    const unconfirmed = await placed();
    const failed = await placed();
    await markStarted(pool, failed.ref, 'run-1', failed.token);
    await transition(pool, failed.ref, ['PENDING'], 'FAILED', 'PAYMENT_UNAVAILABLE');
    expect((await getOrder(pool, unconfirmed.ref.orderId))!.startConfirmed).toBe(false);
    expect((await getOrder(pool, failed.ref.orderId))!.startConfirmed).toBe(true);
    const ids = async (filter: Parameters<typeof listOrders>[1]) => (await listOrders(pool, filter)).map((o) => o.orderId);
    expect(await ids({ startConfirmed: false, limit: 200 })).toContain(unconfirmed.ref.orderId);
    expect(await ids({ startConfirmed: false, limit: 200 })).not.toContain(failed.ref.orderId);
    expect(await ids({ failureReason: 'PAYMENT_UNAVAILABLE', limit: 200 })).toContain(failed.ref.orderId);
    expect(await ids({ failureReason: 'PAYMENT_DECLINED', limit: 200 })).not.toContain(failed.ref.orderId);
  });
});
