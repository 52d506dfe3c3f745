import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOrderIdentity, getOrder, markStarted } from '../../store/orders';
import { OPEN_CALLER, type Caller } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { TemporalUnavailableError, type OrderWorkflows, type StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { scriptedWorkflows } from '../support/app';
import { freshProduct, testPool } from '../support/db';

/**
 * The API's decision after each kind of start answer, against the real database:
 * which answer the client gets and what is left of the order. Temporal's answers
 * are scripted here; the same paths run against a real server, through a proxy
 * that holds its replies, in test/e2e/start-paths.e2e.test.ts.
 */

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

/** A gateway whose start runs `onStart` (which may claim the row, as a fast run would) and answers with it. */
const scripted = scriptedWorkflows;

const timeout = () => Promise.reject(new TemporalUnavailableError('deadline exceeded'));
const service = (workflows: OrderWorkflows) => new OrderService(pool, workflows, { paymentBudgetMs: 60_000 });
const httpStatus = (p: Promise<unknown>) => p.then(() => 202, (e: unknown) => (e instanceof HttpError ? `${e.status} ${e.code}` : String(e)));

async function body() {
  const p = await freshProduct(pool, { priceCents: 100 });
  return { customerId: 'c-svc', items: [{ productId: p.id, quantity: 1 }], paymentMethod: 'pm_card_visa' };
}

describe('placing an order when the start is not clearly confirmed', () => {
  it('start timed out and no run claimed the order: 503, and the row is gone', async () => {
    const workflows = scripted(timeout);
    expect(await httpStatus(service(workflows).place(await body(), undefined, OPEN_CALLER))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await findOrderIdentity(pool, workflows.starts[0]!.orderId)).toBeNull();
  });

  it('start timed out but its run claimed the order first: 202, and the order stays', async () => {
    const workflows = scripted(async (input) => {
      await markStarted(pool, { orderId: input.orderId, attempt: 1 }, 'run-1', input.startToken ?? null); // the run's claim
      return timeout();
    });
    const placed = await service(workflows).place(await body(), undefined, OPEN_CALLER);
    expect(placed.status).toBe('PENDING');
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED' });
  });

  it('an open run met instead (an earlier try of the start landed) that claimed the order first: 202, held by that run', async () => {
    const workflows = scripted(async (input) => {
      await markStarted(pool, { orderId: input.orderId, attempt: 1 }, 'run-open', input.startToken ?? null);
      return { kind: 'RUNNING_ALREADY', runningAttempt: 1 };
    });
    const placed = await service(workflows).place(await body(), 'key-' + Math.random(), OPEN_CALLER);
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED' });
    expect((await pool.query(`SELECT claimed_run_id FROM orders WHERE id = $1`, [placed.orderId])).rows[0].claimed_run_id).toBe('run-open');
  });

  it('an open run met instead that has not claimed: never claimed on its behalf; withdrawn, 503', async () => {
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }));
    expect(await httpStatus(service(workflows).place(await body(), undefined, OPEN_CALLER))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await findOrderIdentity(pool, workflows.starts[0]!.orderId)).toBeNull();
  });

  it('a clean start confirms the row', async () => {
    const workflows = scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }));
    const placed = await service(workflows).place(await body(), undefined, OPEN_CALLER);
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED', status: 'PENDING' });
  });
});

describe('retrying an order when the start is not clearly confirmed', () => {
  async function failedOrder(): Promise<string> {
    const placed = await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }))).place(await body(), undefined, OPEN_CALLER);
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE', updated_at = now() WHERE id = $1`, [
      placed.orderId,
    ]);
    // A retry a moment later: a write of its own would show as a later updatedAt.
    await new Promise((r) => setTimeout(r, 20));
    return placed.orderId;
  }

  /** Everything a refused retry must leave as it was: the whole row, and the order as GET answers it (history, updatedAt). */
  const asItIs = async (orderId: string) => ({
    row: (await pool.query('SELECT * FROM orders WHERE id = $1', [orderId])).rows[0],
    view: await getOrder(pool, orderId),
  });

  it("attempt 1's run is still open: 409 RETRY_IN_PROGRESS, and the order, its history and updatedAt are exactly as they were", async () => {
    const orderId = await failedOrder();
    const before = await asItIs(orderId);
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }));
    expect(await httpStatus(service(workflows).retry(orderId, OPEN_CALLER))).toBe('409 RETRY_IN_PROGRESS');
    expect(before.view!.history.map((h) => h.status)).toEqual(['PENDING', 'FAILED']);
    expect(await asItIs(orderId)).toEqual(before);
  });

  it("attempt 2's own run is open (an earlier try of this start landed) and claims: 202", async () => {
    const orderId = await failedOrder();
    const workflows = scripted(async (input) => {
      await markStarted(pool, { orderId: input.orderId, attempt: 2 }, 'run-2', input.startToken ?? null);
      return { kind: 'RUNNING_ALREADY', runningAttempt: 2 };
    });
    expect(await service(workflows).retry(orderId, OPEN_CALLER)).toMatchObject({ attempt: 2, status: 'PENDING' });
    expect(await findOrderIdentity(pool, orderId)).toMatchObject({ attempt: 2, status: 'PENDING' });
  });

  it('start timed out and nothing claimed attempt 2: 503, the order exactly as it was (FAILED at attempt 1, same history and updatedAt) and can be retried', async () => {
    const orderId = await failedOrder();
    const before = await asItIs(orderId);
    expect(await httpStatus(service(scripted(timeout)).retry(orderId, OPEN_CALLER))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await asItIs(orderId)).toEqual(before);
    expect(await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-2' }))).retry(orderId, OPEN_CALLER)).toMatchObject({ attempt: 2 });
    const retried = (await getOrder(pool, orderId))!;
    expect(retried.history.map((h) => h.status)).toEqual(['PENDING', 'FAILED', 'PENDING']);
    expect(Date.parse(retried.updatedAt)).toBeGreaterThan(Date.parse(before.view!.updatedAt));
  });

  it("an open run of attempt 2 left over from an earlier retry answered 503, already refused its claim: 409, never 202 for a run that will not act", async () => {
    const orderId = await failedOrder();
    // The leftover run carries the earlier request's token; it claims nothing, and is not claimed for.
    const before = await asItIs(orderId);
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 2 }));
    expect(await httpStatus(service(workflows).retry(orderId, OPEN_CALLER))).toBe('409 RETRY_IN_PROGRESS');
    expect(await asItIs(orderId)).toEqual(before);
  });
});

describe('cancelling an order whose start is not confirmed yet', () => {
  it('answers 409 START_IN_PROGRESS instead of a final NOT_CANCELLABLE, and sends nothing to Temporal', async () => {
    // The start is still on its way: the row is committed, its start not settled.
    const workflows = scripted(() => new Promise<never>(() => undefined));
    void service(workflows).place(await body(), undefined, OPEN_CALLER);
    for (let i = 0; i < 100 && workflows.starts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const orderId = workflows.starts[0]!.orderId;
    expect(await httpStatus(service(workflows).cancel(orderId, OPEN_CALLER))).toBe('409 START_IN_PROGRESS');
  });
});

describe('a replay of an order placed before 0.4', () => {
  it('matches the request hash 0.3 stored (lines in collation order), instead of answering 422', async () => {
    const suffix = randomUUID().slice(0, 6);
    // Collation puts sku-a first; code points put SKU-b ('S' < 's') first: the two hashes differ.
    const [a, b] = await Promise.all([freshProduct(pool, { id: `sku-a-${suffix}` }), freshProduct(pool, { id: `SKU-b-${suffix}` })]);
    const order = { customerId: 'c-legacy', items: [{ productId: b.id, quantity: 1 }, { productId: a.id, quantity: 2 }], paymentMethod: 'pm_card_visa' };
    const key = `legacy-${suffix}`;
    const placed = await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }))).place(order, key, OPEN_CALLER);
    // The row as 0.3 wrote it: its hash sorted the lines with localeCompare.
    const lines = [...order.items].sort((x, y) => x.productId.localeCompare(y.productId)).map((i) => [i.productId, i.quantity]);
    const legacy = createHash('sha256')
      .update(JSON.stringify({ customerId: order.customerId, paymentMethod: order.paymentMethod, items: lines }))
      .digest('hex');
    await pool.query(`UPDATE orders SET request_hash = $2 WHERE id = $1`, [placed.orderId, legacy]);
    const again = await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-2' }))).place(order, key, OPEN_CALLER);
    expect(again).toMatchObject({ orderId: placed.orderId, replayed: true });
  });
});

describe('Idempotency-Keys belong to their caller, and order ids are random', () => {
  const alice: Caller = { name: 'alice', admin: false };
  const bob: Caller = { name: 'bob', admin: false };
  const ops: Caller = { name: 'ops', admin: true };
  const accepting = () => scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }));
  // RFC 9562 version 4: random, unlike the name-based (version 5) ids once derived from the key.
  const RANDOM_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('the same key and body: the same order again for one caller, a different order for another', async () => {
    const order = await body();
    const key = `key-${randomUUID()}`;
    const workflows = accepting();
    const first = await service(workflows).place(order, key, alice);
    const again = await service(workflows).place(order, key, alice);
    const other = await service(workflows).place(order, key, bob);
    expect(again).toEqual({ orderId: first.orderId, status: 'PENDING', replayed: true });
    expect(other.replayed).toBe(false);
    expect(other.orderId).not.toBe(first.orderId);
    expect(first.orderId).toMatch(RANDOM_UUID);
    expect(other.orderId).toMatch(RANDOM_UUID);
    expect(workflows.starts.map((s) => s.orderId)).toEqual([first.orderId, other.orderId]);
    expect(await findOrderIdentity(pool, first.orderId)).toMatchObject({ owner: 'alice' });
    expect(await findOrderIdentity(pool, other.orderId)).toMatchObject({ owner: 'bob' });
  });

  it("one caller's key with another body is 422 for that caller only; the order id is not disclosed to another caller", async () => {
    const key = `key-${randomUUID()}`;
    const first = await service(accepting()).place(await body(), key, alice);
    const reused = service(accepting()).place(await body(), key, alice);
    await expect(reused).rejects.toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED', details: { orderId: first.orderId } });
    const bobs = await service(accepting()).place(await body(), key, bob);
    expect(bobs).toMatchObject({ replayed: false, status: 'PENDING' });
    expect(bobs.orderId).not.toBe(first.orderId);
  });

  it('twin requests at once: one order and one start per caller', async () => {
    const order = await body();
    const key = `key-${randomUUID()}`;
    const workflows = accepting();
    const svc = service(workflows);
    const [a1, a2, a3, b1] = await Promise.all([
      svc.place(order, key, alice),
      svc.place(order, key, alice),
      svc.place(order, key, alice),
      svc.place(order, key, bob),
    ]);
    expect(new Set([a1.orderId, a2.orderId, a3.orderId]).size).toBe(1);
    expect(b1.orderId).not.toBe(a1.orderId);
    expect(workflows.starts).toHaveLength(2);
  });

  it('a twin waits for the first request of its key: when that one is withdrawn (503), so is the twin', async () => {
    const order = await body();
    const key = `key-${randomUUID()}`;
    let release: () => void = () => undefined;
    const held = scripted(() => new Promise<StartOutcome>((_resolve, reject) => (release = () => reject(new TemporalUnavailableError('down')))));
    const first = httpStatus(service(held).place(order, key, alice));
    while (held.starts.length === 0) await new Promise((r) => setTimeout(r, 10));
    const twin = httpStatus(service(accepting()).place(order, key, alice));
    await new Promise((r) => setTimeout(r, 100)); // the twin is polling the first request's row
    release();
    expect(await first).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await twin).toBe('503 TEMPORAL_UNAVAILABLE');
    // The key is free again: the next request places a new order under a new id.
    const next = await service(accepting()).place(order, key, alice);
    expect(next).toMatchObject({ replayed: false });
    expect(next.orderId).not.toBe(held.starts[0]!.orderId);
  });

  it("another caller's order is 404 to cancel and retry; an admin reaches every order", async () => {
    const placed = await service(accepting()).place(await body(), undefined, alice);
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [placed.orderId]);
    expect(await httpStatus(service(accepting()).cancel(placed.orderId, bob))).toBe('404 ORDER_NOT_FOUND');
    expect(await httpStatus(service(accepting()).retry(placed.orderId, bob))).toBe('404 ORDER_NOT_FOUND');
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ attempt: 1, status: 'FAILED' });
    expect(await service(accepting()).retry(placed.orderId, ops)).toMatchObject({ attempt: 2 });
  });
});
