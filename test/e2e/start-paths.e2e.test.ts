import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sweepUnconfirmedStarts } from '../../api/orders/start-sweep';
import { insertOrder } from '../../store/orders';
import type { Pool } from '../../lib/db/pool';
import { workflowIdFor } from '../../workflows/types';
import type { orderSaga } from '../../workflows/order-saga';
import { countOrders, freshProduct, stockOf, testPool } from '../support/db';
import { call, untilTerminal } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';
import { ReplyHoldingProxy } from '../support/tcp-proxy';

/**
 * The start of a saga when Temporal's answer does not come: a 503 must mean no
 * order exists and none will run, a 202 that exactly one saga runs. The API
 * talks to Temporal through a proxy that can hold the server's replies, so a
 * start takes effect while the API's deadline expires.
 */

let pool: Pool;
let client: Client;
let proxy: Awaited<ReturnType<typeof ReplyHoldingProxy.start>>;

beforeAll(async () => {
  pool = testPool();
  const { temporalAddress } = inject('testEnv');
  client = new Client({ connection: await Connection.connect({ address: temporalAddress }) });
  proxy = await ReplyHoldingProxy.start(temporalAddress);
});

afterAll(async () => {
  await proxy?.stop();
  await client?.connection.close();
  await pool?.end();
});

async function paymentsOf(orderId: string): Promise<number> {
  return (await pool.query<{ n: number }>('SELECT count(*) AS n FROM payments WHERE order_id = $1', [orderId])).rows[0]!.n;
}

describe('ambiguous starts', () => {
  let stack: Stack;
  beforeAll(async () => {
    // No worker at first: nothing can claim the order before the API decides.
    stack = await startStack('ambiguous', {}, { worker: false, apiOverrides: { TEMPORAL_ADDRESS: proxy.address } });
  });
  afterAll(async () => {
    proxy.releaseReplies();
    await stack?.stop();
  });

  it('a start that times out but lands: 503, the order is withdrawn, and the late run does nothing', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 700 });
    const key = `key-${randomUUID()}`;
    // A customer of its own, to find the late run by its CustomerId search attribute: the order id is random.
    const customerId = `c-ambiguous-${randomUUID().slice(0, 8)}`;
    const body = { customerId, items: [{ productId: product.id, quantity: 1 }] };
    expect((await call(stack.baseUrl, 'GET', '/readyz')).status).toBe(200); // connection to Temporal established
    const before = await countOrders(pool, customerId);

    proxy.holdReplies();
    const res = await call(stack.baseUrl, 'POST', '/api/orders', body, { 'Idempotency-Key': key });
    proxy.releaseReplies();
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('TEMPORAL_UNAVAILABLE');
    expect(await countOrders(pool, customerId)).toBe(before);

    // The start did happen: a run exists. Once a worker runs it, it finds no order and stops.
    const orderId = await waitFor('the late run in the workflow list', async () => {
      for await (const run of client.workflow.list({ query: `CustomerId = "${customerId}"` })) return run.workflowId.replace(/^order-/, '');
      return undefined;
    });
    const handle = client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await stack.startWorker();
    expect(await handle.result()).toMatchObject({ abandoned: true, status: 'PENDING' });
    expect(await countOrders(pool, customerId)).toBe(before);
    expect(await stockOf(pool, product.id)).toBe(5);
    expect(await paymentsOf(orderId)).toBe(0);

    // The client sends the same request again: one order (a new one: the withdrawn one never existed), charged once.
    const again = await call(stack.baseUrl, 'POST', '/api/orders', body, { 'Idempotency-Key': key });
    expect(again.status).toBe(202);
    expect(again.body.orderId).not.toBe(orderId);
    const order = await untilTerminal(stack.baseUrl, again.body.orderId);
    expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 700, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(4);
  });
});

describe('a start whose run claims the order before the API gives up', () => {
  let stack: Stack;
  beforeAll(async () => {
    // The worker talks to Temporal directly, so the run claims the order while the API's reply is held.
    stack = await startStack('claimed', {}, { apiOverrides: { TEMPORAL_ADDRESS: proxy.address } });
  });
  afterAll(async () => {
    proxy.releaseReplies();
    await stack?.stop();
  });

  it('answers 202 after its deadline, and the order completes once', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 300 });
    expect((await call(stack.baseUrl, 'GET', '/readyz')).status).toBe(200);
    proxy.holdReplies();
    const res = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-claimed', items: [{ productId: product.id, quantity: 2 }] });
    proxy.releaseReplies();
    expect(res.status).toBe(202);
    const order = await untilTerminal(stack.baseUrl, res.body.orderId);
    expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 600, refundedCents: 0 } });
    expect(await stockOf(pool, product.id)).toBe(3);
  });

  it('a slow Temporal holds no PostgreSQL connection: reads answer while starts wait', async () => {
    const slow = await startStack('slow-temporal', { PG_POOL_SIZE: '2' }, { apiOverrides: { TEMPORAL_ADDRESS: proxy.address } });
    try {
      const product = await freshProduct(pool, { stock: 50 });
      const placed = await call(slow.baseUrl, 'POST', '/api/orders', { customerId: 'c-pool', items: [{ productId: product.id, quantity: 1 }] });
      expect(placed.status).toBe(202);
      proxy.holdReplies();
      let settled = 0;
      const posts = Array.from({ length: 4 }, () =>
        call(slow.baseUrl, 'POST', '/api/orders', { customerId: 'c-pool', items: [{ productId: product.id, quantity: 1 }] }).finally(() => settled++),
      );
      await new Promise((r) => setTimeout(r, 500));
      const read = await call(slow.baseUrl, 'GET', `/api/orders/${placed.body.orderId}`);
      const list = await call(slow.baseUrl, 'GET', '/api/orders?customerId=c-pool');
      expect(settled).toBe(0); // the four starts are still waiting on Temporal
      expect(read.status).toBe(200);
      expect(list.status).toBe(200);
      proxy.releaseReplies();
      const answers = await Promise.all(posts);
      // Each is either accepted (its run claimed it) or withdrawn; never half of both.
      for (const a of answers) expect([202, 503]).toContain(a.status);
    } finally {
      proxy.releaseReplies();
      await slow.stop();
    }
  });
});

describe('the sweep of unconfirmed starts', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('sweep');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const leftStarting = async (productId: string) => {
    const orderId = randomUUID();
    await insertOrder(
      pool,
      {
        orderId,
        customerId: 'c-sweep',
        items: [{ productId, quantity: 1, priceCents: 250 }],
        amountCents: 250,
        paymentMethod: 'pm_card_visa',
        attempt: 1,
        idempotencyKey: null,
        requestHash: null,
        paymentBudgetMs: 60_000,
      },
      'STARTING',
    );
    await pool.query(`UPDATE orders SET updated_at = now() - interval '5 minutes' WHERE id = $1`, [orderId]);
    return orderId;
  };

  it('withdraws an order left STARTING (its API died between commit and start), and a late start of it does nothing', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 250 });
    const orderId = await leftStarting(product.id);
    expect(await sweepUnconfirmedStarts(pool)).toContainEqual({ orderId, attempt: 1 });
    expect((await call(stack.baseUrl, 'GET', `/api/orders/${orderId}`)).status).toBe(404);
    // A start that was on its way when the API died lands now: its run finds nothing to claim.
    const handle = await client.workflow.start<typeof orderSaga>('orderSaga', {
      workflowId: workflowIdFor(orderId),
      taskQueue: stack.taskQueue,
      args: [{ orderId, customerId: 'c-sweep', items: [{ productId: product.id, quantity: 1, priceCents: 250 }], amountCents: 250, paymentMethod: 'pm_card_visa', attempt: 1, idempotencyKey: null, requestHash: null, paymentBudgetMs: 60_000 }],
    });
    expect(await handle.result()).toMatchObject({ abandoned: true });
    expect(await stockOf(pool, product.id)).toBe(5);
    expect(await paymentsOf(orderId)).toBe(0);
  });

  it('leaves alone an order whose run claimed it first: it completes, charged once', async () => {
    const product = await freshProduct(pool, { stock: 5, priceCents: 250 });
    const orderId = await leftStarting(product.id);
    // Temporal had started the run before the API died: the run claims the row.
    await client.workflow.start<typeof orderSaga>('orderSaga', {
      workflowId: workflowIdFor(orderId),
      taskQueue: stack.taskQueue,
      args: [{ orderId, customerId: 'c-sweep', items: [{ productId: product.id, quantity: 1, priceCents: 250 }], amountCents: 250, paymentMethod: 'pm_card_visa', attempt: 1, idempotencyKey: null, requestHash: null, paymentBudgetMs: 60_000 }],
    });
    await waitFor('the run claimed the order', async () => {
      const rows = await pool.query(`SELECT start_state FROM orders WHERE id = $1`, [orderId]);
      return rows.rows[0]?.start_state === 'STARTED' ? true : undefined;
    });
    expect(await sweepUnconfirmedStarts(pool)).not.toContainEqual({ orderId, attempt: 1 });
    const order = await untilTerminal(stack.baseUrl, orderId);
    expect(order).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 250, refundedCents: 0 } });
  });
});
