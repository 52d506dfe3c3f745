import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentIdempotencyKey } from '../../providers/payment-provider';
import type { Pool } from '../../lib/db/pool';
import { freshProduct, stockOf, testPool } from '../support/db';
import { call, untilStatus, untilTerminal } from '../support/http';
import { startStack, type Stack } from '../support/stack';

/**
 * A payment provider that is slow, or slow and failing, over HTTP with real
 * worker and API processes: the two cases a new user reproduced on `npm start`.
 */

let pool: Pool;
let slow: Stack; // every charge takes 7 s: longer than the heartbeat timeout, shorter than the call timeout
let failingSlow: Stack; // every charge fails after 2.5 s; the budget is long enough to cancel meanwhile

beforeAll(async () => {
  pool = testPool();
  [slow, failingSlow] = await Promise.all([
    startStack('slow-provider', { PAYMENT_LATENCY_MS: '7000' }),
    startStack('failing-slow-provider', { PAYMENT_LATENCY_MS: '2500', PAYMENT_FAILURE_RATE: '1', PAYMENT_BUDGET_MS: '600000' }),
  ]);
});

afterAll(async () => {
  await Promise.all([slow?.stop(), failingSlow?.stop()]);
  await pool?.end();
});

async function providerStatus(orderId: string, attempt = 1): Promise<string | undefined> {
  const res = await pool.query<{ status: string }>(`SELECT status FROM simulated_provider.charges WHERE idempotency_key = $1`, [
    paymentIdempotencyKey({ orderId, attempt }),
  ]);
  return res.rows[0]?.status;
}

describe('a slow provider', () => {
  it('a 7-second charge completes, charged once: the call heartbeats for its whole length', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 1500 });
    const res = await call(slow.baseUrl, 'POST', '/api/orders', { customerId: 'c-slow', items: [{ productId: product.id, quantity: 1 }] });
    expect(res.status).toBe(202);
    const order = await untilTerminal(slow.baseUrl, res.body.orderId, 60_000);
    expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 1500, refundedCents: 0 } });
    expect(await providerStatus(res.body.orderId)).toBe('SUCCEEDED');
    expect(await stockOf(pool, product.id)).toBe(4);
  });

  it('a cancel interrupts the running charge; the charge that lands later is refused', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 900 });
    const res = await call(slow.baseUrl, 'POST', '/api/orders', { customerId: 'c-slow-cancel', items: [{ productId: product.id, quantity: 1 }] });
    const orderId: string = res.body.orderId;
    await untilStatus(slow.baseUrl, orderId, 'RESERVED');
    const cancel = await call(slow.baseUrl, 'POST', `/api/orders/${orderId}/cancel`);
    expect(cancel.status).toBe(202);
    const order = await untilTerminal(slow.baseUrl, orderId);
    expect(order).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
    // Interrupted, not waited out: the refund reached the provider before the 7-second charge did.
    expect(await providerStatus(orderId)).toBe('CANCELED');
    await sleep(7_500); // the charge request reaches the provider now, and is refused
    expect(await providerStatus(orderId)).toBe('CANCELED');
    const after = (await call(slow.baseUrl, 'GET', `/api/orders/${orderId}`)).body;
    expect(after.payment.chargedCents - after.payment.refundedCents).toBe(0);
    expect(await stockOf(pool, product.id)).toBe(5);
  });
});

describe('a failing provider', () => {
  it('a cancel during a failing charge ends CANCELLED (not PAYMENT_UNAVAILABLE), and retry is refused', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 400 });
    const res = await call(failingSlow.baseUrl, 'POST', '/api/orders', { customerId: 'c-fail-cancel', items: [{ productId: product.id, quantity: 1 }] });
    const orderId: string = res.body.orderId;
    await untilStatus(failingSlow.baseUrl, orderId, 'RESERVED');
    await sleep(1_000); // a charge attempt is running
    const cancel = await call(failingSlow.baseUrl, 'POST', `/api/orders/${orderId}/cancel`);
    expect(cancel.status).toBe(202);
    const order = await untilTerminal(failingSlow.baseUrl, orderId);
    expect(order).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER', payment: { chargedCents: 0, refundedCents: 0 } });
    const retry = await call(failingSlow.baseUrl, 'POST', `/api/orders/${orderId}/retry`);
    expect(retry.status).toBe(409);
    expect(await stockOf(pool, product.id)).toBe(5);
  });
});
