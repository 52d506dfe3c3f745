import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareKeyName } from '../../lib/api-keys';
import type { Pool } from '../../lib/db/pool';
import { recordingWorkflows, testApp } from '../support/app';
import { countOrders, freshProduct, testPool } from '../support/db';

/**
 * Who may do what over HTTP, with API_KEYS set: every order route needs a key,
 * a caller reaches only its own orders (another's answer 404, as if it did not
 * exist), an admin reaches all and writes the catalogue, and Idempotency-Keys are
 * per caller. Temporal is a recording fake; PostgreSQL is real, because "nothing
 * was written" and "whose order it is" are checked there.
 */

let pool: Pool;
let productId: string;
const { workflows, started, cancelled } = recordingWorkflows();

const KEYS = { alice: 'alice-0123456789abcdef', bob: 'bob-0123456789abcdef', ops: 'ops-0123456789abcdef', bare: 'bare-0123456789abcdef' };
const API_KEYS = [`alice=${KEYS.alice}`, `bob=${KEYS.bob}`, `ops:admin=${KEYS.ops}`, KEYS.bare];
const RANDOM_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const secured = () => testApp(pool, workflows, { apiKeys: API_KEYS, rateLimitPerMinute: 0 });
const open = () => testApp(pool, workflows, { rateLimitPerMinute: 0 });
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const order = () => ({ customerId: 'c-auth', items: [{ productId, quantity: 1 }] });

type Who = keyof typeof KEYS;
async function place(who: Who, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(secured()).post('/api/orders').set({ ...bearer(KEYS[who]), ...headers }).send(order());
  expect(res.status).toBe(202);
  return res.body.orderId as string;
}

beforeAll(async () => {
  pool = testPool();
  productId = (await freshProduct(pool, { stock: 1_000 })).id;
});
afterAll(async () => {
  await pool.end();
});

/** Every route an order key guards, for an order id. */
const orderRoutes = (id: string) =>
  [
    ['post', '/api/orders'],
    ['get', '/api/orders'],
    ['get', `/api/orders/${id}`],
    ['post', `/api/orders/${id}/cancel`],
    ['post', `/api/orders/${id}/retry`],
    ['put', `/api/products/sku-auth-${randomUUID().slice(0, 8)}`],
  ] as const;

describe('without a valid key', () => {
  it.each([
    ['no Authorization header', {}, 'Bearer realm="order-saga"'],
    ['a key that is not one of API_KEYS', bearer('nope-0123456789abcdef'), 'Bearer realm="order-saga", error="invalid_token"'],
    ['a caller name instead of its key', bearer('alice'), 'Bearer realm="order-saga", error="invalid_token"'],
    ['another scheme', { Authorization: `Basic ${Buffer.from(`alice:${KEYS.alice}`).toString('base64')}` }, 'Bearer realm="order-saga", error="invalid_token"'],
  ])('%s: every order route and the catalogue write answer 401 with WWW-Authenticate, and nothing happens', async (_name, headers, challenge) => {
    const id = await place('alice');
    const rows = await countOrders(pool);
    const starts = started.length;
    for (const [method, path] of orderRoutes(id)) {
      const res = await request(secured())[method](path).set(headers).send(method === 'get' ? undefined : order());
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body, `${method} ${path}`).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
      expect(res.headers['www-authenticate'], `${method} ${path}`).toBe(challenge);
    }
    expect(await countOrders(pool)).toBe(rows);
    expect(started).toHaveLength(starts);
    expect(cancelled).not.toContain(id);
  });

  it('is refused before its body is read: a malformed body still gets 401, not 400', async () => {
    const res = await request(secured()).post('/api/orders').set('Content-Type', 'application/json').send('{"not json');
    expect(res.status).toBe(401);
  });

  it('the catalogue and the probes stay public', async () => {
    expect((await request(secured()).get('/api/products')).status).toBe(200);
    expect((await request(secured()).get(`/api/products/${productId}`)).status).toBe(200);
    expect((await request(secured()).get('/healthz')).status).toBe(200);
    expect((await request(secured()).get('/readyz')).status).toBe(200);
  });
});

describe('callers see and act on their own orders only', () => {
  it("another caller's order answers 404 on every route, exactly like an unknown id, and is left alone", async () => {
    const id = await place('alice');
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
    const unknown = randomUUID();
    const starts = started.length;
    for (const [method, path] of [
      ['get', (x: string) => `/api/orders/${x}`],
      ['post', (x: string) => `/api/orders/${x}/cancel`],
      ['post', (x: string) => `/api/orders/${x}/retry`],
    ] as const) {
      const theirs = await request(secured())[method](path(id)).set(bearer(KEYS.bob));
      const none = await request(secured())[method](path(unknown)).set(bearer(KEYS.bob));
      expect(theirs.status, path(id)).toBe(404);
      expect(theirs.body.error.code).toBe('ORDER_NOT_FOUND');
      expect(theirs.body.error.message.replace(id, 'ID')).toBe(none.body.error.message.replace(unknown, 'ID'));
      expect(Object.keys(theirs.headers).sort()).toEqual(Object.keys(none.headers).sort());
    }
    expect(started).toHaveLength(starts);
    expect(cancelled).not.toContain(id);
    const row = await pool.query(`SELECT status, attempt FROM orders WHERE id = $1`, [id]);
    expect(row.rows[0]).toEqual({ status: 'FAILED', attempt: 1 });
    // Its owner can retry it.
    const retried = await request(secured()).post(`/api/orders/${id}/retry`).set(bearer(KEYS.alice));
    expect(retried.status).toBe(202);
  });

  it('the owner reads, cancels and lists its order; GET /api/orders lists only the caller\'s own', async () => {
    const mine = await place('alice');
    const theirs = await place('bob');
    expect((await request(secured()).get(`/api/orders/${mine}`).set(bearer(KEYS.alice))).body).toMatchObject({ orderId: mine });
    expect((await request(secured()).post(`/api/orders/${mine}/cancel`).set(bearer(KEYS.alice))).status).toBe(202);
    expect(cancelled).toContain(mine);

    const list = async (who: Who, query = '') =>
      ((await request(secured()).get(`/api/orders?limit=200${query}`).set(bearer(KEYS[who]))).body.orders as Array<{ orderId: string }>).map(
        (o) => o.orderId,
      );
    const alices = await list('alice', '&customerId=c-auth');
    expect(alices).toContain(mine);
    expect(alices).not.toContain(theirs);
    expect(await list('bob')).toContain(theirs);
    expect(await list('bob')).not.toContain(mine);
    const owners = await pool.query<{ owner: string | null }>(
      `SELECT DISTINCT owner FROM orders WHERE id = ANY($1::uuid[])`,
      [await list('alice')],
    );
    expect(owners.rows).toEqual([{ owner: 'alice' }]);
  });

  it('an admin key reads, lists, cancels and retries every order, and writes the catalogue; others may not write it', async () => {
    const alices = await place('alice');
    const bobs = await place('bob');
    const everything = (await request(secured()).get('/api/orders?limit=200').set(bearer(KEYS.ops))).body.orders.map(
      (o: { orderId: string }) => o.orderId,
    );
    expect(everything).toEqual(expect.arrayContaining([alices, bobs]));
    expect((await request(secured()).get(`/api/orders/${bobs}`).set(bearer(KEYS.ops))).status).toBe(200);
    expect((await request(secured()).post(`/api/orders/${bobs}/cancel`).set(bearer(KEYS.ops))).status).toBe(202);

    const sku = `sku-auth-${randomUUID().slice(0, 8)}`;
    const product = { name: 'Audited', priceCents: 100, stock: 1 };
    const refused = await request(secured()).put(`/api/products/${sku}`).set(bearer(KEYS.alice)).send(product);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="order-saga", error="insufficient_scope"');
    expect((await request(secured()).get(`/api/products/${sku}`)).status).toBe(404);
    expect((await request(secured()).put(`/api/products/${sku}`).set(bearer(KEYS.ops)).send(product)).status).toBe(201);
  });

  it('orders without an owner (from before owners, or placed while open) are an admin\'s only once keys are set', async () => {
    const legacy = (await request(open()).post('/api/orders').send(order())).body.orderId as string;
    expect((await pool.query(`SELECT owner FROM orders WHERE id = $1`, [legacy])).rows[0].owner).toBeNull();
    expect((await request(secured()).get(`/api/orders/${legacy}`).set(bearer(KEYS.alice))).status).toBe(404);
    expect((await request(secured()).get(`/api/orders/${legacy}`).set(bearer(KEYS.ops))).status).toBe(200);
  });

  it('while open (no API_KEYS) everyone reaches every order, those of named callers too', async () => {
    const alices = await place('alice');
    expect((await request(open()).get(`/api/orders/${alices}`)).status).toBe(200);
    expect((await request(open()).post(`/api/orders/${alices}/cancel`)).status).toBe(202);
    const listed = (await request(open()).get('/api/orders?limit=200')).body.orders.map((o: { orderId: string }) => o.orderId);
    expect(listed).toContain(alices);
  });

  it('a bare key is a caller too, named by a digest of the key, never the key', async () => {
    const id = await place('bare');
    const owner = (await pool.query<{ owner: string }>(`SELECT owner FROM orders WHERE id = $1`, [id])).rows[0]!.owner;
    expect(owner).toBe(bareKeyName(KEYS.bare));
    expect(owner).toMatch(/^key-[0-9a-f]{16}$/);
    expect(owner).not.toContain(KEYS.bare);
    expect((await request(secured()).get(`/api/orders/${id}`).set(bearer(KEYS.bare))).status).toBe(200);
    expect((await request(secured()).get(`/api/orders/${id}`).set(bearer(KEYS.alice))).status).toBe(404);
  });
});

describe('two keys of one caller (a rotation)', () => {
  const OLD = 'shop-old-0123456789abcdef';
  const NEW = 'shop-new-0123456789abcdef';
  const both = () => testApp(pool, workflows, { apiKeys: [`shop=${OLD}`, `shop=${NEW}`, `bob=${KEYS.bob}`], rateLimitPerMinute: 0 });

  it('both keys place, find, list and act on the same orders under the same Idempotency-Keys', async () => {
    const app = both();
    const key = `rotate-${randomUUID()}`;
    const first = await request(app).post('/api/orders').set({ ...bearer(OLD), 'Idempotency-Key': key }).send(order());
    expect(first.status).toBe(202);
    const id = first.body.orderId as string;
    const resent = await request(app).post('/api/orders').set({ ...bearer(NEW), 'Idempotency-Key': key }).send(order());
    expect(resent.status).toBe(202);
    expect(resent.body.orderId).toBe(id);
    expect(resent.headers['idempotent-replayed']).toBe('true');
    expect((await pool.query(`SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1`, [key])).rows[0].n).toBe(1);

    for (const k of [OLD, NEW]) {
      expect((await request(app).get(`/api/orders/${id}`).set(bearer(k))).status).toBe(200);
      const listed = (await request(app).get('/api/orders?limit=200').set(bearer(k))).body.orders.map((o: { orderId: string }) => o.orderId);
      expect(listed).toContain(id);
      expect((await request(app).get('/api/caller').set(bearer(k))).body).toEqual({ name: 'shop', admin: false });
    }
    expect((await request(app).get(`/api/orders/${id}`).set(bearer(KEYS.bob))).status).toBe(404);
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
    expect((await request(app).post(`/api/orders/${id}/retry`).set(bearer(NEW))).status).toBe(202);
  });

  it("a bare key is rotated by naming the new key with the bare key's caller name", async () => {
    const oldBare = 'bare-old-0123456789abcdef';
    const name = bareKeyName(oldBare);
    const app = testApp(pool, workflows, { apiKeys: [oldBare, `${name}=bare-new-0123456789abcdef`], rateLimitPerMinute: 0 });
    const key = `rotate-bare-${randomUUID()}`;
    const first = await request(app).post('/api/orders').set({ ...bearer(oldBare), 'Idempotency-Key': key }).send(order());
    const resent = await request(app).post('/api/orders').set({ ...bearer('bare-new-0123456789abcdef'), 'Idempotency-Key': key }).send(order());
    expect([first.status, resent.status]).toEqual([202, 202]);
    expect(resent.body.orderId).toBe(first.body.orderId);
    expect((await request(app).get('/api/caller').set(bearer(oldBare))).body).toEqual({ name, admin: false });
  });
});

describe('Idempotency-Keys per caller, order ids not derivable', () => {
  it('the same key and body: the same order for the same caller, a different order for another', async () => {
    const key = `shared-${randomUUID()}`;
    const first = await request(secured()).post('/api/orders').set({ ...bearer(KEYS.alice), 'Idempotency-Key': key }).send(order());
    const again = await request(secured()).post('/api/orders').set({ ...bearer(KEYS.alice), 'Idempotency-Key': key }).send(order());
    const bobs = await request(secured()).post('/api/orders').set({ ...bearer(KEYS.bob), 'Idempotency-Key': key }).send(order());
    expect([first.status, again.status, bobs.status]).toEqual([202, 202, 202]);
    expect(again.body.orderId).toBe(first.body.orderId);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(bobs.body.orderId).not.toBe(first.body.orderId);
    expect(bobs.headers['idempotent-replayed']).toBeUndefined();
    // Random ids (version 4): nothing about them follows from the key.
    expect(first.body.orderId).toMatch(RANDOM_UUID);
    expect(bobs.body.orderId).toMatch(RANDOM_UUID);
  });

  it("another body under a key another caller used is simply a new order: no 422 telling the other caller's order id", async () => {
    const key = `shared-${randomUUID()}`;
    const alices = await place('alice', { 'Idempotency-Key': key });
    const other = { ...order(), customerId: 'c-auth-other' };
    const bobs = await request(secured()).post('/api/orders').set({ ...bearer(KEYS.bob), 'Idempotency-Key': key }).send(other);
    expect(bobs.status).toBe(202);
    expect(JSON.stringify(bobs.body)).not.toContain(alices);
    const reused = await request(secured()).post('/api/orders').set({ ...bearer(KEYS.alice), 'Idempotency-Key': key }).send(other);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: { orderId: alices } });
  });

  it('identical requests with the same key from two callers at the same moment: one order each', async () => {
    const key = `twin-${randomUUID()}`;
    const send = (who: Who) => request(secured()).post('/api/orders').set({ ...bearer(KEYS[who]), 'Idempotency-Key': key }).send(order());
    const answers = await Promise.all([send('alice'), send('bob'), send('alice'), send('bob')]);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    const [a1, b1, a2, b2] = answers.map((a) => a.body.orderId as string);
    expect(a2).toBe(a1);
    expect(b2).toBe(b1);
    expect(b1).not.toBe(a1);
    const rows = await pool.query(`SELECT owner FROM orders WHERE idempotency_key = $1 ORDER BY owner`, [key]);
    expect(rows.rows).toEqual([{ owner: 'alice' }, { owner: 'bob' }]);
  });
});
