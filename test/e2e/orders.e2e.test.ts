import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { OrderStatusKey } from '../../workflows/search-attributes';
import { workflowIdFor } from '../../workflows/types';
import { freshProduct, stockOf, testPool, countOrders } from '../support/db';
import { recordHistory } from '../support/fixtures';
import { call, untilStatus, untilTerminal } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * Every path of the order lifecycle over HTTP, against the real dev server,
 * real worker and API processes, and PostgreSQL. Faults come from the same
 * environment variables an operator would set.
 */

let pool: Pool;
let client: Client;
let healthy: Stack; // payment takes 1 s, so a cancel can land while it runs
let providerDown: Stack; // payment always fails; a 3 s budget ends it as PAYMENT_UNAVAILABLE
let flaky: Stack; // a quarter of the payment and notification calls fail and are retried

beforeAll(async () => {
  pool = testPool();
  const connection = await Connection.connect({ address: inject('testEnv').temporalAddress });
  client = new Client({ connection });
  [healthy, providerDown, flaky] = await Promise.all([
    startStack('healthy', { INVENTORY_LATENCY_MS: '20', PAYMENT_LATENCY_MS: '1000', NOTIFY_LATENCY_MS: '20' }),
    startStack('provider-down', { PAYMENT_FAILURE_RATE: '1', PAYMENT_BUDGET_MS: '3000' }),
    // A quarter, not a half: retries back off 1, 2, 4, 8… s, so at one half a run of
    // six failures (over a minute) somewhere among 12 steps is a one-in-five event.
    startStack('flaky', { PAYMENT_FAILURE_RATE: '0.25', NOTIFY_FAILURE_RATE: '0.25' }),
  ]);
});

afterAll(async () => {
  await Promise.all([healthy?.stop(), providerDown?.stop(), flaky?.stop()]);
  await client?.connection.close();
  await pool?.end();
});

/**
 * The OrderStatus search attribute once the workflow has closed. The saga's local
 * activities write the final status to PostgreSQL while its workflow task is
 * open, and the upsert lands when that task completes, so right after the row
 * turns terminal the two may differ briefly.
 */
async function statusAttributeWhenClosed(orderId: string): Promise<string | undefined> {
  const handle = client.workflow.getHandle(workflowIdFor(orderId));
  await handle.result();
  return (await handle.describe()).typedSearchAttributes.get(OrderStatusKey);
}

async function placeOrder(stack: Stack, body: object, headers: Record<string, string> = {}) {
  const res = await call(stack.baseUrl, 'POST', '/api/orders', body, headers);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res;
}

describe('happy path', () => {
  it('202 at once, 200 PENDING right after, then COMPLETED: stock down, charged once, one confirmation', async () => {
    const product = await freshProduct(pool, { stock: 10, priceCents: 1999 });
    const put = await call(healthy.baseUrl, 'PUT', `/api/products/${product.id}`, { name: 'Kettle', priceCents: 1999, stock: 10 });
    expect(put.status).toBe(200);

    const res = await placeOrder(healthy, { customerId: 'c-happy', items: [{ productId: product.id, quantity: 2 }] });
    expect(res.body).toMatchObject({ status: 'PENDING', orderId: expect.any(String) });
    expect(res.headers.get('location')).toBe(`/api/orders/${res.body.orderId}`);
    const orderId: string = res.body.orderId;

    const immediately = await call(healthy.baseUrl, 'GET', `/api/orders/${orderId}`);
    expect(immediately.status).toBe(200);
    expect(['PENDING', 'RESERVED']).toContain(immediately.body.status);

    const order = await untilTerminal(healthy.baseUrl, orderId);
    expect(order).toMatchObject({
      status: 'COMPLETED',
      failureReason: null,
      customerId: 'c-happy',
      amountCents: 3998,
      items: [{ productId: product.id, quantity: 2, priceCents: 1999 }],
      payment: { chargedCents: 3998, refundedCents: 0 },
    });
    expect(order.links.temporalUi).toContain(`/workflows/${workflowIdFor(orderId)}`);
    expect(await stockOf(pool, product.id)).toBe(8);
    const confirmations = await waitFor('the confirmation', async () => {
      const o = (await call(healthy.baseUrl, 'GET', `/api/orders/${orderId}`)).body;
      return o.notifications.length ? o.notifications : undefined;
    });
    expect(confirmations.map((n: { type: string }) => n.type)).toEqual(['order_confirmed']);

    expect(await statusAttributeWhenClosed(orderId)).toBe('COMPLETED');
    await recordHistory(client, orderId, 'completed');
  });

  it('lists orders filtered by status and customer', async () => {
    const product = await freshProduct(pool, { stock: 5 });
    const customerId = `c-list-${randomUUID().slice(0, 6)}`;
    const a = await placeOrder(healthy, { customerId, items: [{ productId: product.id, quantity: 1 }] });
    const b = await placeOrder(healthy, { customerId, items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'pm_card_chargeDeclined' });
    await untilTerminal(healthy.baseUrl, a.body.orderId);
    await untilTerminal(healthy.baseUrl, b.body.orderId);
    const mine = await call(healthy.baseUrl, 'GET', `/api/orders?customerId=${customerId}`);
    expect(mine.body.orders.map((o: { orderId: string }) => o.orderId).sort()).toEqual([a.body.orderId, b.body.orderId].sort());
    const failed = await call(healthy.baseUrl, 'GET', `/api/orders?customerId=${customerId}&status=FAILED`);
    expect(failed.body.orders.map((o: { orderId: string }) => o.orderId)).toEqual([b.body.orderId]);
    const limited = await call(healthy.baseUrl, 'GET', `/api/orders?limit=1`);
    expect(limited.body.orders).toHaveLength(1);
  });
});

describe('failures and compensation', () => {
  it('declined card: FAILED PAYMENT_DECLINED, nothing charged, stock released', async () => {
    const product = await freshProduct(pool, { stock: 4 });
    const res = await placeOrder(healthy, {
      customerId: 'c-declined',
      items: [{ productId: product.id, quantity: 3 }],
      paymentMethod: 'pm_card_chargeDeclined',
    });
    const order = await untilTerminal(healthy.baseUrl, res.body.orderId);
    expect(order).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED', payment: { chargedCents: 0, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(4);
    expect(await statusAttributeWhenClosed(res.body.orderId)).toBe('FAILED');
    await recordHistory(client, res.body.orderId, 'payment-declined');
  });

  it('out of stock on one line of a multi-item order: FAILED OUT_OF_STOCK, no line keeps a reservation', async () => {
    const plenty = await freshProduct(pool, { stock: 10 });
    const scarce = await freshProduct(pool, { stock: 1 });
    const res = await placeOrder(healthy, {
      customerId: 'c-oos',
      items: [
        { productId: plenty.id, quantity: 2 },
        { productId: scarce.id, quantity: 2 },
      ],
    });
    const order = await untilTerminal(healthy.baseUrl, res.body.orderId);
    expect(order).toMatchObject({ status: 'FAILED', failureReason: 'OUT_OF_STOCK', payment: { chargedCents: 0, refundedCents: 0 } });
    expect(await stockOf(pool, plenty.id)).toBe(10);
    expect(await stockOf(pool, scarce.id)).toBe(1);
    await recordHistory(client, res.body.orderId, 'out-of-stock');
  });

  it('provider down past the budget: FAILED PAYMENT_UNAVAILABLE, stock back; retry on a healthy worker completes, charged once', async () => {
    const product = await freshProduct(pool, { stock: 6, priceCents: 500 });
    const res = await placeOrder(providerDown, { customerId: 'c-unavailable', items: [{ productId: product.id, quantity: 2 }] });
    const orderId: string = res.body.orderId;
    const failed = await untilTerminal(providerDown.baseUrl, orderId);
    expect(failed).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE', payment: { chargedCents: 0, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(6);
    await recordHistory(client, orderId, 'payment-unavailable');

    // The provider is back (the healthy stack's worker): re-run the same order.
    const retried = await call(healthy.baseUrl, 'POST', `/api/orders/${orderId}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ orderId, status: 'PENDING', attempt: 2 });
    const done = await untilTerminal(healthy.baseUrl, orderId);
    expect(done).toMatchObject({ status: 'COMPLETED', failureReason: null, payment: { chargedCents: 1000, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(4);
    await recordHistory(client, orderId, 'retried-completed');

    const again = await call(healthy.baseUrl, 'POST', `/api/orders/${orderId}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('NOT_RETRYABLE');
  });

  it('retry is refused (409) for orders that did not fail with PAYMENT_UNAVAILABLE', async () => {
    const product = await freshProduct(pool, { stock: 2 });
    const res = await placeOrder(healthy, { customerId: 'c-r', items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'pm_card_chargeDeclined' });
    await untilTerminal(healthy.baseUrl, res.body.orderId);
    const retry = await call(healthy.baseUrl, 'POST', `/api/orders/${res.body.orderId}/retry`);
    expect(retry.status).toBe(409);
  });

  it('transient payment and notification errors are retried: every order completes, charged and confirmed once', async () => {
    const product = await freshProduct(pool, { stock: 20, priceCents: 300 });
    const placed = await Promise.all(
      Array.from({ length: 6 }, (_, i) => placeOrder(flaky, { customerId: `c-flaky-${i}`, items: [{ productId: product.id, quantity: 1 }] })),
    );
    for (const res of placed) {
      const order = await untilTerminal(flaky.baseUrl, res.body.orderId, 90_000);
      expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 300, refundedCents: 0 } });
      const confirmed = await waitFor('the confirmation', async () => {
        const o = (await call(flaky.baseUrl, 'GET', `/api/orders/${res.body.orderId}`)).body;
        return o.notifications.length ? o.notifications : undefined;
      }, 90_000);
      expect(confirmed).toHaveLength(1);
    }
    expect(await stockOf(pool, product.id)).toBe(14);
  }, 180_000);
});

describe('cancellation', () => {
  it('cancel while the payment step runs: 202, then CANCELLED with stock released and money refunded', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 800 });
    const res = await placeOrder(healthy, { customerId: 'c-cancel', items: [{ productId: product.id, quantity: 2 }] });
    const orderId: string = res.body.orderId;
    await untilStatus(healthy.baseUrl, orderId, 'RESERVED');
    const cancel = await call(healthy.baseUrl, 'POST', `/api/orders/${orderId}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.body).toMatchObject({ orderId, status: expect.stringMatching(/^(RESERVED|PAID)$/) });

    const order = await untilTerminal(healthy.baseUrl, orderId);
    expect(order).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
    expect(order.payment.chargedCents - order.payment.refundedCents).toBe(0);
    expect(order.notifications).toEqual([]);
    expect(await stockOf(pool, product.id)).toBe(5);
    expect(await statusAttributeWhenClosed(orderId)).toBe('CANCELLED');
    await recordHistory(client, orderId, 'cancelled-during-payment');
  });

  it('cancel once terminal: 409 NOT_CANCELLABLE, and the order stays as it was', async () => {
    const product = await freshProduct(pool, { stock: 5 });
    const res = await placeOrder(healthy, { customerId: 'c-late', items: [{ productId: product.id, quantity: 1 }] });
    await untilTerminal(healthy.baseUrl, res.body.orderId);
    const cancel = await call(healthy.baseUrl, 'POST', `/api/orders/${res.body.orderId}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.error.code).toBe('NOT_CANCELLABLE');
    const after = await call(healthy.baseUrl, 'GET', `/api/orders/${res.body.orderId}`);
    expect(after.body.status).toBe('COMPLETED');
    expect(await stockOf(pool, product.id)).toBe(4);
  });
});

describe('idempotency keys', () => {
  it('same key and body: the same order; another body: 422; nothing is charged twice', async () => {
    const product = await freshProduct(pool, { stock: 10, priceCents: 100 });
    const key = `key-${randomUUID()}`;
    const body = { customerId: 'c-idem', items: [{ productId: product.id, quantity: 1 }] };
    const first = await placeOrder(healthy, body, { 'Idempotency-Key': key });
    const second = await placeOrder(healthy, body, { 'Idempotency-Key': key });
    expect(second.body.orderId).toBe(first.body.orderId);
    expect(second.headers.get('idempotent-replayed')).toBe('true');

    const other = await call(healthy.baseUrl, 'POST', '/api/orders', { ...body, items: [{ productId: product.id, quantity: 2 }] }, { 'Idempotency-Key': key });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const order = await untilTerminal(healthy.baseUrl, first.body.orderId);
    expect(order.payment).toEqual({ chargedCents: 100, refundedCents: 0 });
    expect(await stockOf(pool, product.id)).toBe(9);
  });

  it('identical requests at the same moment make one order', async () => {
    const product = await freshProduct(pool, { stock: 10, priceCents: 100 });
    const key = `key-${randomUUID()}`;
    const body = { customerId: 'c-race', items: [{ productId: product.id, quantity: 1 }] };
    const before = await countOrders(pool);
    const results = await Promise.all(Array.from({ length: 8 }, () => placeOrder(healthy, body, { 'Idempotency-Key': key })));
    expect(new Set(results.map((r) => r.body.orderId)).size).toBe(1);
    expect(await countOrders(pool)).toBe(before + 1);
    await untilTerminal(healthy.baseUrl, results[0]!.body.orderId);
    expect(await stockOf(pool, product.id)).toBe(9);
  });

  it('still answers with the same order after the workflow history is deleted', async () => {
    const product = await freshProduct(pool, { stock: 10, priceCents: 100 });
    const key = `key-${randomUUID()}`;
    const body = { customerId: 'c-purged', items: [{ productId: product.id, quantity: 1 }] };
    const first = await placeOrder(healthy, body, { 'Idempotency-Key': key });
    await untilTerminal(healthy.baseUrl, first.body.orderId);
    const workflowId = workflowIdFor(first.body.orderId);
    const handle = client.workflow.getHandle(workflowId);
    await handle.result();
    const { runId } = await handle.describe();
    await client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId, runId } });
    // Deletion is asynchronous on the server; what matters is that the API does not depend on it.
    const gone = async () => handle.describe().then(() => false, () => true);
    await waitFor('the history to be deleted', async () => ((await gone()) ? true : undefined), 5_000).catch(() => undefined);

    const replay = await placeOrder(healthy, body, { 'Idempotency-Key': key });
    expect(replay.body).toMatchObject({ orderId: first.body.orderId, status: 'COMPLETED' });
    // No new run was started for the replayed request: the id is gone, or still the old run.
    const now = await handle.describe().catch(() => undefined);
    expect(now === undefined || now.runId === runId).toBe(true);
    expect(await stockOf(pool, product.id)).toBe(9);
  });
});

describe('failure of the parts themselves', () => {
  it('a worker killed mid-payment loses nothing: another worker finishes the order, charged once', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 250 });
    const res = await placeOrder(healthy, { customerId: 'c-crash', items: [{ productId: product.id, quantity: 1 }] });
    await untilStatus(healthy.baseUrl, res.body.orderId, 'RESERVED');
    await healthy.killWorker();
    await healthy.startWorker();
    const order = await untilTerminal(healthy.baseUrl, res.body.orderId, 60_000);
    expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 250, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(4);
  });

  it('Temporal unreachable: POST answers 503, /readyz 503, and no order row is left behind', async () => {
    const { temporalAddress } = inject('testEnv');
    const port = Number(temporalAddress.split(':')[1]) + 1; // nothing listens there
    const cut = await startStack('no-temporal', { TEMPORAL_ADDRESS: `127.0.0.1:${port}` }, { worker: false });
    try {
      const product = await freshProduct(pool, { stock: 5 });
      const before = await countOrders(pool);
      const res = await call(cut.baseUrl, 'POST', '/api/orders', { customerId: 'c-503', items: [{ productId: product.id, quantity: 1 }] });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('TEMPORAL_UNAVAILABLE');
      expect(await countOrders(pool)).toBe(before);
      expect(await stockOf(pool, product.id)).toBe(5);
      expect((await call(cut.baseUrl, 'GET', '/readyz')).status).toBe(503);
    } finally {
      await cut.stop();
    }
  });
});
