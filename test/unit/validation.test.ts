import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app';
import type { OrderWorkflows } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';
import { countOrders, freshProduct, testPool } from '../support/db';

/**
 * Request validation: every malformed request gets a 4xx in the JSON error
 * shape, starts no workflow and writes no row. The Temporal side is a
 * recording fake here because the point is that it is never called.
 */

let pool: Pool;
let productId: string;
const started: OrderInput[] = [];
const workflows: OrderWorkflows = {
  start: async (input) => {
    started.push(input);
    return { kind: 'STARTED', runId: 'run-1' };
  },
  cancel: async () => {
    throw new Error('not expected');
  },
  waitForClose: async () => undefined,
  ping: async () => undefined,
};

const app = (apiKeys: string[] = []) => testApp(pool, workflows, { apiKeys });

beforeAll(async () => {
  pool = testPool();
  productId = (await freshProduct(pool)).id;
});
afterAll(async () => {
  await pool.end();
});

const valid = () => ({ customerId: 'c-1', items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa' });

describe('POST /api/orders rejects bad input and starts nothing', () => {
  const cases: Array<[string, unknown]> = [
    ['an empty body', {}],
    ['a JSON array', []],
    ['no customerId', { items: [{ productId: 'x', quantity: 1 }] }],
    ['an empty customerId', { ...valid(), customerId: '' }],
    ['a customerId with spaces', { ...valid(), customerId: 'c 1' }],
    ['no items', { customerId: 'c-1' }],
    ['an empty items list', { ...valid(), items: [] }],
    ['a zero quantity', { ...valid(), items: [{ productId: 'sku-1', quantity: 0 }] }],
    ['a negative quantity', { ...valid(), items: [{ productId: 'sku-1', quantity: -2 }] }],
    ['a fractional quantity', { ...valid(), items: [{ productId: 'sku-1', quantity: 1.5 }] }],
    ['a quantity given as a string', { ...valid(), items: [{ productId: 'sku-1', quantity: '2' }] }],
    ['a missing productId', { ...valid(), items: [{ quantity: 1 }] }],
    ['the same product twice', { ...valid(), items: [{ productId: 'a', quantity: 1 }, { productId: 'a', quantity: 2 }] }],
    ['a client-supplied price', { ...valid(), items: [{ productId: 'a', quantity: 1, priceCents: 1 }] }],
    ['a client-supplied amount', { ...valid(), amountCents: 1 }],
    ['a malformed paymentMethod', { ...valid(), paymentMethod: 'visa' }],
    ['a non-string paymentMethod', { ...valid(), paymentMethod: 42 }],
  ];

  it.each(cases)('400 VALIDATION_FAILED for %s', async (_name, body) => {
    const before = await countOrders(pool);
    const res = await request(app()).post('/api/orders').send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(typeof res.body.error.message).toBe('string');
    expect(started).toHaveLength(0);
    expect(await countOrders(pool)).toBe(before);
  });

  it('400 INVALID_JSON for a body that is not JSON, without a stack trace', async () => {
    const res = await request(app()).post('/api/orders').set('content-type', 'application/json').send('{"customerId":');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'INVALID_JSON', message: expect.any(String) } });
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    expect(started).toHaveLength(0);
  });

  it('400 for an over-long Idempotency-Key', async () => {
    const res = await request(app()).post('/api/orders').set('Idempotency-Key', 'k'.repeat(300)).send(valid());
    expect(res.status).toBe(400);
    expect(started).toHaveLength(0);
  });

  it('422 UNKNOWN_PRODUCT for a product not in the catalogue', async () => {
    const before = await countOrders(pool);
    const res = await request(app())
      .post('/api/orders')
      .send({ ...valid(), items: [{ productId: 'no-such-sku', quantity: 1 }] });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'UNKNOWN_PRODUCT', details: { productIds: ['no-such-sku'] } });
    expect(started).toHaveLength(0);
    expect(await countOrders(pool)).toBe(before);
  });

  it('401 on write routes when API_KEYS is set and the key is missing or wrong', async () => {
    const secured = app(['s3cret']);
    expect((await request(secured).post('/api/orders').send(valid())).status).toBe(401);
    const wrong = await request(secured).post('/api/orders').set('Authorization', 'Bearer nope').send(valid());
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('UNAUTHORIZED');
    expect((await request(secured).put('/api/products/x').send({ name: 'x', priceCents: 1, stock: 1 })).status).toBe(401);
    expect((await request(secured).get('/api/products')).status).toBe(200); // reads stay open
    expect(started).toHaveLength(0);
  });

  it('a valid order passes validation and starts exactly one workflow, priced from the catalogue', async () => {
    const secured = app(['s3cret']);
    const res = await request(secured).post('/api/orders').set('Authorization', 'Bearer s3cret').send({ ...valid(), items: [{ productId, quantity: 3 }] });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/api/orders/${res.body.orderId}`);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ orderId: res.body.orderId, amountCents: 3 * 1250, attempt: 1 });
    started.length = 0;
  });
});

describe('other routes validate too', () => {
  it('PUT /api/products/:id rejects bad bodies with 400', async () => {
    for (const body of [{}, { name: 'x', priceCents: -1, stock: 1 }, { name: 'x', priceCents: 1, stock: 1.5 }, { name: '', priceCents: 1, stock: 1 }]) {
      const res = await request(app()).put('/api/products/sku-bad').send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await request(app()).get('/api/products/sku-bad')).status).toBe(404);
  });

  it('GET /api/orders rejects an unknown status filter or limit', async () => {
    expect((await request(app()).get('/api/orders?status=SHIPPED')).status).toBe(400);
    expect((await request(app()).get('/api/orders?limit=0')).status).toBe(400);
    expect((await request(app()).get('/api/orders?limit=abc')).status).toBe(400);
  });

  it('unknown and malformed order ids are 404 on every order route', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      expect((await request(app()).get(`/api/orders/${id}`)).status).toBe(404);
      expect((await request(app()).post(`/api/orders/${id}/cancel`)).status).toBe(404);
      expect((await request(app()).post(`/api/orders/${id}/retry`)).status).toBe(404);
    }
  });

  it('unknown routes answer 404 in the JSON error shape', async () => {
    const res = await request(app()).get('/api/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });
});
