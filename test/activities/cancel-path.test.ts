import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type OrderActivities } from '../../activities';
import { getOrder, insertOrder } from '../../store/orders';
import type { Pool } from '../../lib/db/pool';
import type { OrderRef } from '../../workflows/types';
import { freshProduct, testPool } from '../support/db';
import { lossyPool } from '../support/lossy-pool';

/**
 * The saga's writes on the cancel path against a real PostgreSQL: the first
 * decision to compensate wins over a second try of the same task, and every
 * write whose reply is lost after it committed is retried to the same answer.
 */

let pool: Pool;
const env = new MockActivityEnvironment();
const noService = { latencyMs: 0, failureRate: 0 };
const activitiesOn = (on: Pool): OrderActivities => createActivities(on, { inventory: noService, payment: noService, notify: noService });

beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

async function reservedOrder(): Promise<OrderRef> {
  const p = await freshProduct(pool);
  const orderId = randomUUID();
  await insertOrder(pool, {
    orderId,
    customerId: 'c-cancel-path',
    items: [{ productId: p.id, quantity: 1, priceCents: 100 }],
    amountCents: 100,
    paymentMethod: 'pm_card_visa',
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 60_000,
  });
  await pool.query(`UPDATE orders SET status = 'RESERVED' WHERE id = $1`, [orderId]);
  return { orderId, attempt: 1 };
}

describe('two tries of one workflow task compensating at once (a worker that lost Temporal but not PostgreSQL)', () => {
  it('the first markCompensating decides how the order ends; the second is told so and writes nothing', async () => {
    const acts = activitiesOn(pool);
    const ref = await reservedOrder();
    // W1 saw the decline; W2 handles the same task with a customer's cancel in it.
    expect(await env.run(acts.markCompensating, ref, 'PAYMENT_DECLINED' as const)).toEqual({ status: 'COMPENSATING', failureReason: 'PAYMENT_DECLINED' });
    expect(await env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const)).toEqual({ status: 'COMPENSATING', failureReason: 'PAYMENT_DECLINED' });
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'COMPENSATING', failureReason: 'PAYMENT_DECLINED' });
    // Both then finish the same way.
    await env.run(acts.finishOrder, ref, 'FAILED' as const, 'PAYMENT_DECLINED' as const);
    await env.run(acts.finishOrder, ref, 'FAILED' as const, 'PAYMENT_DECLINED' as const);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
  });

  it('racing: whichever commits first, both tries are told the same decision', async () => {
    const acts = activitiesOn(pool);
    for (let i = 0; i < 20; i++) {
      const ref = await reservedOrder();
      const [a, b] = await Promise.all([
        env.run(acts.markCompensating, ref, 'PAYMENT_DECLINED' as const).catch(() => env.run(acts.markCompensating, ref, 'PAYMENT_DECLINED' as const)),
        env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const).catch(() => env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const)),
      ]);
      expect(a).toEqual(b);
      expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'COMPENSATING', failureReason: (a as { failureReason: string }).failureReason });
    }
  });
});

describe('a write of the cancel path that commits and loses its reply is retried to the same answer', () => {
  it('markCompensating', async () => {
    const lossy = lossyPool(pool);
    const ref = await reservedOrder();
    lossy.lose(/^UPDATE orders SET status/);
    const acts = activitiesOn(lossy.pool);
    await expect(env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const)).rejects.toThrow(/reply lost/);
    expect(lossy.lost).toBe(1);
    expect(await env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const)).toEqual({ status: 'COMPENSATING', failureReason: 'CANCELLED_BY_CUSTOMER' });
  });

  it('finishOrder', async () => {
    const lossy = lossyPool(pool);
    const ref = await reservedOrder();
    const acts = activitiesOn(lossy.pool);
    await env.run(acts.markCompensating, ref, 'CANCELLED_BY_CUSTOMER' as const);
    lossy.lose(/^UPDATE orders SET status/);
    await expect(env.run(acts.finishOrder, ref, 'CANCELLED' as const, 'CANCELLED_BY_CUSTOMER' as const)).rejects.toThrow(/reply lost/);
    await env.run(acts.finishOrder, ref, 'CANCELLED' as const, 'CANCELLED_BY_CUSTOMER' as const);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
  });

  it("the run's claim", async () => {
    const lossy = lossyPool(pool);
    const ref = await reservedOrder();
    await pool.query(`UPDATE orders SET start_state = 'STARTING', status = 'PENDING' WHERE id = $1`, [ref.orderId]);
    lossy.lose(/^UPDATE orders SET start_state = 'STARTED'/);
    const acts = activitiesOn(lossy.pool);
    await expect(env.run(acts.claimOrder, ref, 'run-a')).rejects.toThrow(/reply lost/);
    expect(await env.run(acts.claimOrder, ref, 'run-a')).toBe(true);
    expect(await env.run(acts.claimOrder, ref, 'run-b')).toBe(false);
  });
});
