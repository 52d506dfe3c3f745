import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type OrderActivities } from '../../activities';
import { OrderStateConflictError, getOrder } from '../../store/orders';
import type { Pool } from '../../lib/db/pool';
import { ErrorType, type OrderInput, type OrderRef } from '../../workflows/types';
import { freshProduct, stockOf, testPool } from '../support/db';

/**
 * The activities against a real PostgreSQL: each effect happens once however
 * often the activity runs, compensations work before and after their step, and
 * the status moves in the same transaction as the domain change.
 */

let pool: Pool;
let acts: OrderActivities;
const env = new MockActivityEnvironment();
const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => env.run(fn, ...args);
const noService = { latencyMs: 0, failureRate: 0 };

beforeAll(() => {
  pool = testPool();
  acts = createActivities(pool, { inventory: noService, payment: noService, notify: noService });
});
afterAll(async () => {
  await pool.end();
});

async function newOrder(lines: Array<{ productId: string; quantity: number; priceCents: number }>, paymentMethod = 'pm_card_visa') {
  const input: OrderInput = {
    orderId: randomUUID(),
    customerId: 'c-act',
    items: lines,
    amountCents: lines.reduce((s, l) => s + l.quantity * l.priceCents, 0),
    paymentMethod,
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 60_000,
  };
  await run(acts.recordOrder, input);
  return { input, ref: { orderId: input.orderId, attempt: 1 } as OrderRef };
}

const failureType = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return (err as ApplicationFailure).type;
};

describe('order records', () => {
  it('recordOrder is idempotent and keeps the prices it was given', async () => {
    const p = await freshProduct(pool);
    const { input } = await newOrder([{ productId: p.id, quantity: 2, priceCents: 700 }]);
    await run(acts.recordOrder, input);
    const view = await getOrder(pool, input.orderId);
    expect(view).toMatchObject({ status: 'PENDING', amountCents: 1400, items: [{ productId: p.id, quantity: 2, priceCents: 700 }] });
  });
});

describe('inventory', () => {
  it('reserves once however often it runs, and sets RESERVED in the same transaction', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const { ref } = await newOrder([{ productId: p.id, quantity: 3, priceCents: 100 }]);
    await run(acts.reserveInventory, ref);
    await run(acts.reserveInventory, ref);
    expect(await stockOf(pool, p.id)).toBe(7);
    expect((await getOrder(pool, ref.orderId))!.status).toBe('RESERVED');
  });

  it('is all or nothing for a multi-item order: one short line leaves every stock untouched', async () => {
    const a = await freshProduct(pool, { stock: 5 });
    const b = await freshProduct(pool, { stock: 1 });
    const { ref } = await newOrder([
      { productId: a.id, quantity: 2, priceCents: 100 },
      { productId: b.id, quantity: 2, priceCents: 100 },
    ]);
    expect(await failureType(run(acts.reserveInventory, ref))).toBe(ErrorType.OutOfStock);
    expect(await stockOf(pool, a.id)).toBe(5);
    expect(await stockOf(pool, b.id)).toBe(1);
    expect((await getOrder(pool, ref.orderId))!.status).toBe('PENDING');
  });

  it('release puts stock back exactly once', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const { ref } = await newOrder([{ productId: p.id, quantity: 4, priceCents: 100 }]);
    await run(acts.reserveInventory, ref);
    await run(acts.releaseInventory, ref);
    await run(acts.releaseInventory, ref);
    expect(await stockOf(pool, p.id)).toBe(10);
  });

  it('a release that runs before the reservation makes the late reservation a no-op', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const { ref } = await newOrder([{ productId: p.id, quantity: 4, priceCents: 100 }]);
    await run(acts.releaseInventory, ref);
    await run(acts.reserveInventory, ref);
    expect(await stockOf(pool, p.id)).toBe(10);
  });

  it('concurrent reservations never oversell', async () => {
    const p = await freshProduct(pool, { stock: 5 });
    const orders = await Promise.all(Array.from({ length: 8 }, () => newOrder([{ productId: p.id, quantity: 1, priceCents: 100 }])));
    const results = await Promise.allSettled(orders.map(({ ref }) => run(acts.reserveInventory, ref)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(await stockOf(pool, p.id)).toBe(0);
  });
});

describe('payments', () => {
  const charged = async (orderId: string) => (await getOrder(pool, orderId))!.payment;

  it('charges once however often it runs, and sets PAID in the same transaction', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 2, priceCents: 450 }]);
    await run(acts.reserveInventory, ref);
    await run(acts.chargePayment, ref);
    await run(acts.chargePayment, ref);
    expect(await charged(ref.orderId)).toEqual({ chargedCents: 900, refundedCents: 0 });
    expect((await getOrder(pool, ref.orderId))!.status).toBe('PAID');
  });

  it('declines pm_card_chargeDeclined with a non-retryable PaymentDeclined and charges nothing', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 450 }], 'pm_card_chargeDeclined');
    expect(await failureType(run(acts.chargePayment, ref))).toBe(ErrorType.PaymentDeclined);
    expect(await charged(ref.orderId)).toEqual({ chargedCents: 0, refundedCents: 0 });
  });

  it('refunds exactly once', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 450 }]);
    await run(acts.chargePayment, ref);
    await run(acts.refundPayment, ref);
    await run(acts.refundPayment, ref);
    expect(await charged(ref.orderId)).toEqual({ chargedCents: 450, refundedCents: 450 });
  });

  it('a refund that runs before the charge cancels the payment: the late charge is refused and takes nothing', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 450 }]);
    await run(acts.refundPayment, ref);
    expect(await failureType(run(acts.chargePayment, ref))).toBe(ErrorType.PaymentCanceled);
    expect(await charged(ref.orderId)).toEqual({ chargedCents: 0, refundedCents: 0 });
  });

  it('fails with a retryable ProviderUnavailable at the configured failure rate, before any effect', async () => {
    const flaky = createActivities(pool, {
      inventory: noService,
      payment: { latencyMs: 0, failureRate: 1 },
      notify: noService,
    });
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 450 }]);
    const err = await run(flaky.chargePayment, ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.ProviderUnavailable);
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
    // The call's duration travels with the failure: the saga counts it against the budget.
    expect((err as ApplicationFailure).details?.[0]).toEqual({ callMs: expect.any(Number) });
    expect(await charged(ref.orderId)).toEqual({ chargedCents: 0, refundedCents: 0 });
  });
});

describe('notifications and status', () => {
  it('sends order_confirmed at most once', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 100 }]);
    await run(acts.sendNotification, ref, 'order_confirmed');
    await run(acts.sendNotification, ref, 'order_confirmed');
    const view = await getOrder(pool, ref.orderId);
    expect(view!.notifications.map((n) => n.type)).toEqual(['order_confirmed']);
  });

  it('status writes are guarded by attempt: a late activity of attempt 1 cannot touch attempt 2, and says so', async () => {
    const p = await freshProduct(pool);
    const { input, ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 100 }]);
    await run(acts.recordOrder, { ...input, attempt: 2 });
    await expect(run(acts.markCompensating, ref)).rejects.toBeInstanceOf(OrderStateConflictError); // attempt 1
    expect((await getOrder(pool, ref.orderId))!).toMatchObject({ status: 'PENDING', attempt: 2 });
  });

  it('a status write the order is not ready for throws instead of passing silently; a repeat is fine', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 100 }]);
    await expect(run(acts.completeOrder, ref)).rejects.toThrow(/expected PAID to move to COMPLETED, found PENDING/);
    await run(acts.markCompensating, ref);
    await run(acts.markCompensating, ref);
    await run(acts.finishOrder, ref, 'CANCELLED', 'CANCELLED_BY_CUSTOMER');
    await run(acts.finishOrder, ref, 'CANCELLED', 'CANCELLED_BY_CUSTOMER');
    await expect(run(acts.finishOrder, ref, 'FAILED', 'OUT_OF_STOCK')).rejects.toBeInstanceOf(OrderStateConflictError);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
  });

  it('walks PENDING -> COMPENSATING -> FAILED with a reason', async () => {
    const p = await freshProduct(pool);
    const { ref } = await newOrder([{ productId: p.id, quantity: 1, priceCents: 100 }]);
    await run(acts.markCompensating, ref);
    await run(acts.finishOrder, ref, 'FAILED', 'OUT_OF_STOCK');
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'FAILED', failureReason: 'OUT_OF_STOCK' });
  });
});
