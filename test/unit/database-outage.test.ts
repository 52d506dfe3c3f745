import { setTimeout as sleep } from 'node:timers/promises';
import type { Express } from 'express';
import request, { type Response } from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { sweepUnconfirmedStarts } from '../../api/orders/start-sweep';
import { freePort } from '../../dev/free-port';
import { createPool, type Pool } from '../../lib/db/pool';
import { recordingWorkflows, testApp } from '../support/app';
import { freshProduct, testPool } from '../support/db';
import { hookQueries } from '../support/query-hook';
import { ReplyHoldingProxy } from '../support/tcp-proxy';

/**
 * A real PostgreSQL outage under the API: a pool pointed at a port nothing
 * listens on (PostgreSQL stopped), or a pool whose PostgreSQL goes away under it
 * (a TCP proxy in front of the suite's server, cut at a chosen moment). Every
 * /api route that uses the database answers 503 DATABASE_UNAVAILABLE with
 * Retry-After, with and without API_KEYS; an answer says nothing was changed
 * only where nothing was, and never names an order that does not exist.
 */

const KEYS = ['shop=shop-key', 'ops:admin=admin-key'];
const ADMIN = { Authorization: 'Bearer admin-key' };
const UNKNOWN_ORDER = '00000000-0000-4000-8000-000000000000';
type Mode = 'open' | 'keyed';

let pool: Pool; // straight to PostgreSQL: what the outage left behind
const cleanups: Array<() => Promise<void>> = [];
beforeAll(() => {
  pool = testPool();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await pool.end();
});

function urlAt(host: string, port: number): string {
  const url = new URL(inject('testEnv').databaseUrl);
  url.hostname = host;
  url.port = String(port);
  return url.toString();
}

/** A pool whose PostgreSQL is stopped: nothing listens on its port. */
async function stoppedDatabasePool(): Promise<Pool> {
  const dead = createPool(urlAt('127.0.0.1', await freePort()), 2);
  cleanups.push(() => dead.end());
  return dead;
}

/** A pool on the suite's PostgreSQL through a proxy that the test can cut. */
async function cuttablePool(): Promise<{ pool: Pool; proxy: ReplyHoldingProxy }> {
  const target = new URL(inject('testEnv').databaseUrl);
  const proxy = await ReplyHoldingProxy.start(`${target.hostname}:${target.port || 5432}`);
  const [host, port] = proxy.address.split(':');
  const through = createPool(urlAt(host!, Number(port)), 2);
  cleanups.push(async () => {
    await through.end();
    await proxy.stop();
  });
  return { pool: through, proxy };
}

/**
 * `db`, with `around` wrapped around the first statement matching `pattern`, run
 * on the pool or on a client it hands out: `send` sends that statement. The outage
 * itself is real (the proxy is cut); this only picks its moment.
 */
function aroundStatement(db: Pool, pattern: RegExp, around: (send: () => Promise<unknown>) => Promise<unknown>): Pool {
  let armed = true;
  return hookQueries(db, (text, send) => {
    if (!armed || !pattern.test(text)) return send();
    armed = false;
    return around(send);
  });
}

const orderFor = (productId: string, customerId: string) => ({ customerId, items: [{ productId, quantity: 1 }] });

function expectUnavailable(res: Response, what: string): void {
  expect(res.status, `${what}: ${res.text}`).toBe(503);
  expect(res.body.error?.code, what).toBe('DATABASE_UNAVAILABLE');
  expect(Number(res.headers['retry-after']), `${what}: Retry-After`).toBeGreaterThan(0);
}

/** Every /api route that uses PostgreSQL, in `mode`, against `app`; `orderId` and `productId` name rows that exist (or not). */
async function everyRoute(app: Express, mode: Mode, ids: { orderId: string; failedId: string; productId: string }) {
  const auth = mode === 'keyed' ? ADMIN : {};
  const send = {
    'GET /api/products': () => request(app).get('/api/products').set(auth),
    'GET /api/products/:id': () => request(app).get(`/api/products/${ids.productId}`).set(auth),
    'PUT /api/products/:id': () => request(app).put(`/api/products/${ids.productId}`).set(auth).send({ name: 'Changed', priceCents: 1, stock: 1 }),
    'POST /api/orders': () => request(app).post('/api/orders').set(auth).send(orderFor(ids.productId, 'c-outage')),
    'POST /api/orders with a key': () =>
      request(app).post('/api/orders').set(auth).set('Idempotency-Key', `outage-${Math.random()}`).send(orderFor(ids.productId, 'c-outage')),
    'GET /api/orders': () => request(app).get('/api/orders').set(auth),
    'GET /api/orders/:id': () => request(app).get(`/api/orders/${ids.orderId.toUpperCase()}`).set(auth),
    'POST /api/orders/:id/cancel': () => request(app).post(`/api/orders/${ids.orderId}/cancel`).set(auth),
    'POST /api/orders/:id/retry': () => request(app).post(`/api/orders/${ids.failedId}/retry`).set(auth),
  };
  for (const [route, go] of Object.entries(send)) {
    const res = await go();
    expectUnavailable(res, `${mode} ${route}`);
    // Where the request would have written, the answer says whether it did: here, it never got that far.
    if (/^(POST|PUT)/.test(route) && route !== 'PUT /api/products/:id') {
      expect(res.body.error.message, `${mode} ${route}`).toMatch(/nothing was changed/);
    }
    expect(res.body.error.details?.orderId, `${mode} ${route}`).toBeUndefined();
  }
  // The probes still tell the two apart; who a key belongs to needs no database.
  expect((await request(app).get('/readyz')).status).toBe(503);
  expect((await request(app).get('/api/caller').set(auth)).status).toBe(200);
}

describe('PostgreSQL unreachable', () => {
  it.each(['open', 'keyed'] as const)('%s: stopped, every /api route that uses it answers 503 DATABASE_UNAVAILABLE with Retry-After', async (mode) => {
    const gateway = recordingWorkflows();
    const app = testApp(await stoppedDatabasePool(), gateway.workflows, { apiKeys: mode === 'keyed' ? KEYS : [], rateLimitPerMinute: 0 });
    await everyRoute(app, mode, { orderId: UNKNOWN_ORDER, failedId: UNKNOWN_ORDER, productId: 'sku-1' });
    expect(gateway.started).toEqual([]);
    expect(gateway.cancelled).toEqual([]);
  });

  it.each(['open', 'keyed'] as const)('%s: gone from under a running API, the same answers, and every row is as it was', async (mode) => {
    const gateway = recordingWorkflows();
    const { pool: through, proxy } = await cuttablePool();
    const app = testApp(through, gateway.workflows, { apiKeys: mode === 'keyed' ? KEYS : [], rateLimitPerMinute: 0 });
    const auth = mode === 'keyed' ? ADMIN : {};
    const product = await freshProduct(pool, { stock: 10 });
    const place = async () => {
      const res = await request(app).post('/api/orders').set(auth).send(orderFor(product.id, 'c-outage'));
      expect(res.status, res.text).toBe(202);
      return res.body.orderId as string;
    };
    const orderId = await place();
    const failedId = await place();
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [failedId]);
    const ids = [orderId, failedId];
    const snapshot = async () => ({
      count: (await pool.query('SELECT count(*)::int AS n FROM orders')).rows[0].n as number,
      orders: (await pool.query('SELECT * FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows,
      history: (await pool.query('SELECT * FROM order_status_history WHERE order_id = ANY($1::uuid[]) ORDER BY id', [ids])).rows,
      product: (await pool.query('SELECT * FROM products WHERE id = $1', [product.id])).rows,
    });
    const before = await snapshot();
    const startsBefore = gateway.started.length;

    await proxy.cut();
    await everyRoute(app, mode, { orderId, failedId, productId: product.id });
    expect(await snapshot()).toEqual(before);
    expect(gateway.started.length).toBe(startsBefore);
    expect(gateway.cancelled).toEqual([]);
  });
});

describe('PostgreSQL dies between pricing and the insert, and stays down', () => {
  it('the insert never reached it: 503, nothing was changed, no order and no saga', async () => {
    const gateway = recordingWorkflows();
    const { pool: through, proxy } = await cuttablePool();
    const dying = aroundStatement(through, /FROM products WHERE id = ANY/, async (send) => {
      const priced = await send();
      await proxy.cut();
      await sleep(50); // the pool hears its idle connections drop
      return priced;
    });
    const product = await freshProduct(pool);
    const customerId = `c-dies-${Math.random()}`;
    const res = await request(testApp(dying, gateway.workflows)).post('/api/orders').send(orderFor(product.id, customerId));
    expectUnavailable(res, 'POST /api/orders');
    expect(res.body.error.message).toMatch(/nothing was changed/);
    expect(res.body.error.details?.orderId).toBeUndefined();
    expect((await pool.query('SELECT 1 FROM orders WHERE customer_id = $1', [customerId])).rowCount).toBe(0);
    expect(gateway.started).toEqual([]);
  });

  it('the insert was sent and its reply lost: 503 naming no order, saying it will not go ahead; no saga, and the sweep withdraws the row', async () => {
    const gateway = recordingWorkflows();
    const { pool: through, proxy } = await cuttablePool();
    const dying = aroundStatement(through, /^WITH o AS/, async (send) => {
      proxy.holdReplies();
      const sent = send();
      await sleep(300); // PostgreSQL has it, and commits; its reply waits in the proxy
      await proxy.cut();
      return sent;
    });
    const product = await freshProduct(pool);
    const customerId = `c-lost-${Math.random()}`;
    const res = await request(testApp(dying, gateway.workflows)).post('/api/orders').send(orderFor(product.id, customerId));
    expectUnavailable(res, 'POST /api/orders');
    expect(res.body.error.message).toMatch(/will not go ahead/);
    expect(res.body.error.message).not.toMatch(/nothing was changed/);
    expect(res.body.error.details?.orderId).toBeUndefined();
    expect(gateway.started).toEqual([]);
    // What the lost reply left: a row whose start never came, which the sweep withdraws.
    const left = await pool.query<{ id: string; start_state: string }>('SELECT id, start_state FROM orders WHERE customer_id = $1', [customerId]);
    expect(left.rows.map((r) => r.start_state)).toEqual(['STARTING']);
    expect(await sweepUnconfirmedStarts(pool, 0)).toContainEqual({ orderId: left.rows[0]!.id, attempt: 1 });
    expect((await pool.query('SELECT 1 FROM orders WHERE customer_id = $1', [customerId])).rowCount).toBe(0);
  });

  it("a retry's move was sent and its reply lost: 503 saying the attempt will not run; no saga, and the sweep puts the order back as it was", async () => {
    const gateway = recordingWorkflows();
    const { pool: through, proxy } = await cuttablePool();
    const product = await freshProduct(pool);
    const placed = await request(testApp(pool, gateway.workflows)).post('/api/orders').send(orderFor(product.id, 'c-lost-retry'));
    const orderId = placed.body.orderId as string;
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE', updated_at = now() WHERE id = $1`, [orderId]);
    const row = async () => (await pool.query('SELECT * FROM orders WHERE id = $1', [orderId])).rows[0];
    const history = async () => (await pool.query('SELECT * FROM order_status_history WHERE order_id = $1 ORDER BY id', [orderId])).rows;
    const before = { row: await row(), history: await history() };
    const startsBefore = gateway.started.length;
    const dying = aroundStatement(through, /^UPDATE orders SET attempt = \$2/, async (send) => {
      proxy.holdReplies();
      const sent = send();
      await sleep(300);
      await proxy.cut();
      return sent;
    });
    const res = await request(testApp(dying, gateway.workflows)).post(`/api/orders/${orderId}/retry`);
    expectUnavailable(res, 'POST /api/orders/:id/retry');
    expect(res.body.error.message).toMatch(/will not run/);
    expect(res.body.error.message).not.toMatch(/nothing was changed/);
    expect(gateway.started.length).toBe(startsBefore);
    expect(await sweepUnconfirmedStarts(pool, 0)).toContainEqual({ orderId, attempt: 2 });
    expect({ row: await row(), history: await history() }).toEqual(before);
  });
});
