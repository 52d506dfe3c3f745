import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { recordingWorkflows, testApp } from '../support/app';
import { freshProduct, testPool } from '../support/db';

/**
 * Order ids are UUIDs, and a UUID names the same order in any case: .NET and
 * Swift clients send GUIDs in upper case. Every route must reach the same order
 * (and the same workflow, `order-<lower-case id>`), and answers use lower case.
 */

let pool: Pool;
const { workflows, cancelled } = recordingWorkflows();
const app = () => testApp(pool, workflows, { rateLimitPerMinute: 0 });

beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

async function placed(): Promise<string> {
  const product = await freshProduct(pool);
  const res = await request(app()).post('/api/orders').send({ customerId: 'c-case', items: [{ productId: product.id, quantity: 1 }] });
  expect(res.status).toBe(202);
  return res.body.orderId as string;
}

describe('an order id in upper case names the same order on every route', () => {
  it('GET answers the order with its id in lower case', async () => {
    const id = await placed();
    const res = await request(app()).get(`/api/orders/${id.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.body.orderId).toBe(id);
    expect(res.body.links.temporalUi).toContain(`order-${id}`);
  });

  it('cancel reaches the workflow of the lower-case id and answers in lower case', async () => {
    const id = await placed();
    const res = await request(app()).post(`/api/orders/${id.toUpperCase()}/cancel`);
    expect(res.status).toBe(202);
    expect(res.body.orderId).toBe(id);
    expect(cancelled.at(-1)).toBe(id);
  });

  it('retry finds the order (409 NOT_RETRYABLE for an order that has not failed, not 404), mixed case too', async () => {
    const id = await placed();
    const mixed = id.slice(0, 10).toUpperCase() + id.slice(10);
    const res = await request(app()).post(`/api/orders/${mixed}/retry`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('NOT_RETRYABLE');
  });

  it('a retried order started from an upper-case id runs under the lower-case workflow id', async () => {
    const id = await placed();
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
    const { workflows: w, started } = recordingWorkflows();
    const res = await request(testApp(pool, w, { rateLimitPerMinute: 0 })).post(`/api/orders/${id.toUpperCase()}/retry`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ orderId: id, attempt: 2 });
    expect(started.at(-1)?.orderId).toBe(id);
  });
});
