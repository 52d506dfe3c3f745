import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOrderIdentity, getOrder } from '../../store/orders';
import { OPEN_CALLER } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { sweepUnconfirmedStarts } from '../../api/orders/start-sweep';
import { TemporalUnavailableError, type OrderWorkflows } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';
import { scriptedWorkflows } from '../support/app';
import { freshProduct, testPool } from '../support/db';
import { lossyPool } from '../support/lossy-pool';

/**
 * The start fence's promises where a request is cut off: the API dies between
 * its commit and its start, a write commits and loses its reply, Temporal
 * refuses a start. Temporal is scripted; PostgreSQL is real, because what is
 * left of the order is the point.
 */

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

const scripted = scriptedWorkflows;

const never = () => new Promise<never>(() => undefined);
const timeout = () => Promise.reject(new TemporalUnavailableError('deadline exceeded'));
const service = (workflows: OrderWorkflows, on: Pool = pool) => new OrderService(on, workflows, { paymentBudgetMs: 60_000 });
const answer = (p: Promise<unknown>) => p.then(() => '202', (e: unknown) => (e instanceof HttpError ? `${e.status} ${e.code}` : `thrown: ${String(e)}`));

async function body() {
  const p = await freshProduct(pool, { priceCents: 100 });
  return { customerId: 'c-fence', items: [{ productId: p.id, quantity: 1 }], paymentMethod: 'pm_card_visa' };
}

/** The body a scripted start was made for, to send it again. */
async function sameBody(input: OrderInput) {
  return { customerId: input.customerId, paymentMethod: input.paymentMethod, items: input.items.map(({ productId, quantity }) => ({ productId, quantity })) };
}

async function until<T>(what: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = what();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

describe('a request that was never answered never becomes an order through our own machinery', () => {
  it.each([
    ['without an Idempotency-Key', undefined],
    ['with an Idempotency-Key', 'key-unanswered'],
  ])('%s: the API died between its commit and its start; the sweep withdraws the row and starts nothing', async (_, key) => {
    // The start never comes back: the process that was making it is gone.
    const dying = scripted(never);
    void service(dying).place(await body(), key && `${key}-${Math.random()}`, OPEN_CALLER);
    const orderId = await until(() => dying.starts[0]?.orderId);
    // Another API process sweeps rows left unconfirmed (the age is the test's: 0).
    // The sweep has no way to start a saga: it takes no gateway.
    expect(await sweepUnconfirmedStarts(pool, 0)).toContainEqual({ orderId, attempt: 1 });
    expect(await findOrderIdentity(pool, orderId)).toBeNull();
    // The client's resend (same key, or none) is the order: exactly one.
    const resent = scripted(async () => ({ kind: 'STARTED', runId: 'run-2' }));
    const again = await service(resent).place(dying.starts[0]!.requestHash ? await sameBody(dying.starts[0]!) : await body(), key && dying.starts[0]!.idempotencyKey!, OPEN_CALLER);
    expect(again.replayed).toBe(false);
    expect(again.orderId).not.toBe(orderId);
    expect(await findOrderIdentity(pool, again.orderId)).toMatchObject({ startState: 'STARTED' });
  });
});

describe('a write of the start fence that commits and loses its reply', () => {
  it('the withdrawal of a first attempt: 503, and the order is gone (not a 202 for an order that does not exist)', async () => {
    const lossy = lossyPool(pool);
    lossy.lose(/DELETE FROM orders WHERE id = \$1 AND attempt = 1/);
    const workflows = scripted(timeout);
    expect(await answer(service(workflows, lossy.pool).place(await body(), undefined, OPEN_CALLER))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(lossy.lost).toBe(1);
    expect(await findOrderIdentity(pool, workflows.starts[0]!.orderId)).toBeNull();
  });

  it.each([
    ["a retry's revert to the failed attempt", /attempt = attempt - 1/, '503 TEMPORAL_UNAVAILABLE'],
    ["a retry's move to the next attempt", /^UPDATE orders SET attempt = \$2/, '503 DATABASE_UNAVAILABLE'],
  ])('%s: 503, and the order is exactly as it was (FAILED at its attempt, same history and updatedAt)', async (_, lost, answered) => {
    const placed = await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }))).place(await body(), undefined, OPEN_CALLER);
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE', updated_at = now() WHERE id = $1`, [
      placed.orderId,
    ]);
    const asItIs = async () => ({
      row: (await pool.query('SELECT * FROM orders WHERE id = $1', [placed.orderId])).rows[0],
      view: await getOrder(pool, placed.orderId),
    });
    const before = await asItIs();
    await new Promise((r) => setTimeout(r, 20));
    const lossy = lossyPool(pool);
    lossy.lose(lost);
    expect(await answer(service(scripted(timeout), lossy.pool).retry(placed.orderId, OPEN_CALLER))).toBe(answered);
    expect(lossy.lost).toBe(1);
    expect(await asItIs()).toEqual(before);
  });
});

describe('a start that Temporal refuses for good', () => {
  const refused = (code: number, name: string) => () =>
    Promise.reject(Object.assign(new Error(`${code} ${name}: refused`), { code, details: 'refused', metadata: {} }));

  it.each([
    [16, 'UNAUTHENTICATED'],
    [7, 'PERMISSION_DENIED'],
    [5, 'NOT_FOUND'],
  ])('gRPC %s (%s): the order is withdrawn and the answer says nothing happened, naming the cause', async (code, name) => {
    const workflows = scripted(refused(code, name));
    const err = await service(workflows).place(await body(), undefined, OPEN_CALLER).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 503, code: 'TEMPORAL_START_REFUSED', details: { cause: name } });
    expect(await findOrderIdentity(pool, workflows.starts[0]!.orderId)).toBeNull();
  });

  it('a codec error (no gRPC status) is answered the same way', async () => {
    const workflows = scripted(() => Promise.reject(new Error('payload codec: no key for id k-9')));
    expect(await answer(service(workflows).place(await body(), undefined, OPEN_CALLER))).toBe('503 TEMPORAL_START_REFUSED');
  });
});
