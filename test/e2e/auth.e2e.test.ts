import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { freshProduct, testPool } from '../support/db';
import { call } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * API_KEYS through the real entry point (`npm run api`): the process asks for
 * keys and keeps callers apart, and where it listens depends on whether it is
 * open. The request-level matrix is test/unit/auth.test.ts; no worker runs here.
 */

/** An address of this machine that is not loopback, to see whether the API answers there. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool?.end();
});

const reachable = (url: string) => fetch(url).then((r) => r.status, () => 'unreachable' as const);

/**
 * Where a listening socket on `port` is bound, from the kernel's socket tables:
 * 'any' (0.0.0.0 or ::, every interface), '127.0.0.1' or '::1'. Works where this
 * machine has no other interface to try (a network namespace with loopback only).
 */
function boundAddress(port: number): string | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A: LISTEN
      const [hexIp, hexPort] = local.split(':');
      if (parseInt(hexPort!, 16) !== port) continue;
      if (/^0+$/.test(hexIp!)) return 'any';
      if (hexIp === '0100007F') return '127.0.0.1'; // little-endian bytes
      if (hexIp === '00000000000000000000000001000000') return '::1';
      return hexIp;
    }
  }
  return undefined;
}

describe('with API_KEYS', () => {
  const alice = `alice-${randomUUID()}`;
  const ops = `ops-${randomUUID()}`;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('auth-keys', { API_KEYS: `alice=${alice},ops:admin=${ops}` }, { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('asks every order route for a key, shows a caller its own orders, and an admin all of them', async () => {
    const product = await freshProduct(pool);
    const body = { customerId: 'c-auth-e2e', items: [{ productId: product.id, quantity: 1 }] };
    expect((await call(stack.baseUrl, 'POST', '/api/orders', body)).status).toBe(401);
    const placed = await call(stack.baseUrl, 'POST', '/api/orders', body, { Authorization: `Bearer ${alice}` });
    expect(placed.status).toBe(202);
    const path = `/api/orders/${placed.body.orderId}`;
    expect((await call(stack.baseUrl, 'GET', path)).status).toBe(401);
    expect((await call(stack.baseUrl, 'GET', path, undefined, { Authorization: `Bearer ${alice}` })).status).toBe(200);
    expect((await call(stack.baseUrl, 'GET', path, undefined, { Authorization: `Bearer ${ops}` })).status).toBe(200);
    expect((await call(stack.baseUrl, 'GET', '/api/products')).status).toBe(200);
  });

  it('listens on every interface', async () => {
    expect(boundAddress(Number(new URL(stack.baseUrl).port))).toBe('any');
    if (external !== undefined) {
      expect(await reachable(`http://${external}:${new URL(stack.baseUrl).port}/healthz`)).toBe(200);
    }
  });
});

describe('rotating a key (docs/http-api.md, "To rotate")', () => {
  const old = `alice-old-${randomUUID()}`;
  const fresh = `alice-new-${randomUUID()}`;
  let stack: Stack;
  beforeAll(async () => {
    // The provider stays down, so the order ends FAILED / PAYMENT_UNAVAILABLE: one its caller may retry.
    stack = await startStack('auth-rotation', { API_KEYS: `alice=${old}`, PAYMENT_FAILURE_RATE: '1', PAYMENT_BUDGET_MS: '1000' });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const as = (key: string) => ({ Authorization: `Bearer ${key}` });
  const failedAt = (id: string, key: string, attempt: number) =>
    waitFor(`order ${id} FAILED`, async () => {
      const res = await call(stack.baseUrl, 'GET', `/api/orders/${id}`, undefined, as(key));
      const failed = res.body.status === 'FAILED' && res.body.failureReason === 'PAYMENT_UNAVAILABLE';
      return failed && res.body.history.filter((h: { status: string }) => h.status === 'FAILED').length === attempt ? res.body : undefined;
    });

  it('old key, then both, then the new one alone: the same orders, the same Idempotency-Keys, and the caller still acts on them', async () => {
    const product = await freshProduct(pool, { stock: 10 });
    const customerId = `c-rotation-${randomUUID().slice(0, 8)}`;
    const body = { customerId, items: [{ productId: product.id, quantity: 1 }] };
    const idempotencyKey = { 'Idempotency-Key': `rotation-${randomUUID()}` };
    const placed = await call(stack.baseUrl, 'POST', '/api/orders', body, { ...as(old), ...idempotencyKey });
    expect(placed.status).toBe(202);
    const id = placed.body.orderId as string;
    await failedAt(id, old, 1);

    // Step 1: the new key beside the old one, under the same caller name.
    await stack.restartApi({ API_KEYS: `alice=${old},alice=${fresh}` });
    const resent = await call(stack.baseUrl, 'POST', '/api/orders', body, { ...as(fresh), ...idempotencyKey });
    expect(resent.status).toBe(202);
    expect(resent.body.orderId).toBe(id);
    for (const key of [old, fresh]) expect((await call(stack.baseUrl, 'GET', `/api/orders/${id}`, undefined, as(key))).status).toBe(200);
    const retried = await call(stack.baseUrl, 'POST', `/api/orders/${id}/retry`, undefined, as(fresh));
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    await failedAt(id, fresh, 2);

    // Step 2: the old key removed.
    await stack.restartApi({ API_KEYS: `alice=${fresh}` });
    expect((await call(stack.baseUrl, 'GET', `/api/orders/${id}`, undefined, as(old))).status).toBe(401);
    const again = await call(stack.baseUrl, 'POST', '/api/orders', body, { ...as(fresh), ...idempotencyKey });
    expect(again.status).toBe(202);
    expect(again.body.orderId).toBe(id);
    const listed = await call(stack.baseUrl, 'GET', `/api/orders?customerId=${customerId}&limit=200`, undefined, as(fresh));
    expect(listed.body.orders.map((o: { orderId: string }) => o.orderId)).toEqual([id]);
    expect((await call(stack.baseUrl, 'POST', `/api/orders/${id}/retry`, undefined, as(fresh))).status).toBe(202);
    expect((await pool.query(`SELECT count(*)::int AS n FROM orders WHERE customer_id = $1`, [customerId])).rows[0].n).toBe(1);
  }, 180_000); // two restarts of the API and two failed payment budgets
});

describe('without API_KEYS (the local demo)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack('auth-open', { API_KEYS: '' }, { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('is open, on 127.0.0.1 only', async () => {
    expect((await call(stack.baseUrl, 'GET', '/api/orders?limit=1')).status).toBe(200);
    expect(boundAddress(Number(new URL(stack.baseUrl).port))).toBe('127.0.0.1');
    if (external !== undefined) {
      expect(await reachable(`http://${external}:${new URL(stack.baseUrl).port}/healthz`)).toBe('unreachable');
    }
  });
});
