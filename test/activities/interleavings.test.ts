import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities';
import { getOrder, insertOrder, markStarted, withdrawStart } from '../../store/orders';
import { paymentIdempotencyKey } from '../../providers/payment-provider';
import { HEARTBEAT_INTERVAL_MS } from '../../activities/heartbeats';
import { createPool, type Pool } from '../../lib/db/pool';
import type { OrderInput, OrderRef } from '../../workflows/types';
import { freshProduct, testPool } from '../support/db';

/**
 * What happens between two parties that do not share a transaction: a charge
 * that lands after its caller gave up, a provider call that outlives its
 * heartbeat, and the API's withdrawal of an order racing the saga's claim.
 */

let pool: Pool;
const noService = { latencyMs: 0, failureRate: 0 };

beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

async function newOrder(priceCents = 450, quantity = 1, startState: 'STARTING' | 'STARTED' = 'STARTED') {
  const p = await freshProduct(pool, { priceCents, stock: 1_000 });
  const input: OrderInput = {
    orderId: randomUUID(),
    customerId: 'c-interleave',
    items: [{ productId: p.id, quantity, priceCents }],
    amountCents: priceCents * quantity,
    paymentMethod: 'pm_card_visa',
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 60_000,
  };
  await insertOrder(pool, input, startState);
  return { input, ref: { orderId: input.orderId, attempt: 1 } as OrderRef };
}

async function providerRow(ref: OrderRef) {
  const res = await pool.query<{ status: string; amount_cents: number; refunded_cents: number }>(
    `SELECT status, amount_cents, refunded_cents FROM simulated_provider.charges WHERE idempotency_key = $1`,
    [paymentIdempotencyKey(ref)],
  );
  return res.rows[0];
}

const payment = async (orderId: string) => (await getOrder(pool, orderId))!.payment;

describe('a charge that lands after its caller gave up is still undone', () => {
  const slowPayments = () => createActivities(pool, { inventory: noService, payment: { latencyMs: 300, failureRate: 0 }, notify: noService });

  /**
   * Starts a 300 ms charge and cancels its activity 50 ms in, while the request is
   * on its way to the provider. Resolves with what the activity failed with
   * (undefined if it completed).
   */
  async function abandonCharge(acts: ReturnType<typeof slowPayments>, ref: OrderRef): Promise<unknown> {
    const env = new MockActivityEnvironment();
    const charging = env.run(acts.chargePayment, ref).then(() => undefined, (err: unknown) => err);
    await sleep(50);
    env.cancel();
    return charging;
  }

  it('cancelled mid-call, refunded before the charge lands: the provider refuses the late charge', async () => {
    const acts = slowPayments();
    const { ref } = await newOrder();
    expect(await abandonCharge(acts, ref)).toBeInstanceOf(CancelledFailure);
    await new MockActivityEnvironment().run(acts.refundPayment, ref);
    await sleep(450); // the charge request reaches the provider now
    expect(await providerRow(ref)).toMatchObject({ status: 'CANCELED', amount_cents: 0 });
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 0, refundedCents: 0 });
  });

  it('cancelled mid-call, refunded after the charge landed: the refund takes it back', async () => {
    const acts = slowPayments();
    const { ref } = await newOrder();
    expect(await abandonCharge(acts, ref)).toBeInstanceOf(CancelledFailure);
    await sleep(450); // landed at the provider; we never heard the answer
    expect(await providerRow(ref)).toMatchObject({ status: 'SUCCEEDED', amount_cents: 450 });
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 0, refundedCents: 0 }); // our record knows nothing yet
    await new MockActivityEnvironment().run(acts.refundPayment, ref);
    expect(await providerRow(ref)).toMatchObject({ status: 'REFUNDED', refunded_cents: 450 });
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 450, refundedCents: 450 });
  });

  it('a retried charge after a lost reply gets the same charge back, not a second one', async () => {
    const acts = slowPayments();
    const { ref } = await newOrder();
    // Stands for the worker dying: the request is on its way, the reply is lost.
    expect(await abandonCharge(acts, ref)).toBeInstanceOf(CancelledFailure);
    await sleep(450);
    await new MockActivityEnvironment().run(acts.chargePayment, ref);
    expect(await providerRow(ref)).toMatchObject({ status: 'SUCCEEDED', amount_cents: 450 });
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 450, refundedCents: 0 });
  });
});

describe('provider calls heartbeat for their whole length and stop when cancelled', () => {
  it('a call several heartbeat intervals long keeps heartbeating and completes once', async () => {
    const latencyMs = 3.5 * HEARTBEAT_INTERVAL_MS;
    const acts = createActivities(pool, { inventory: noService, payment: { latencyMs, failureRate: 0 }, notify: noService });
    const { ref } = await newOrder(700);
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    await env.run(acts.chargePayment, ref);
    expect(beats).toBeGreaterThanOrEqual(3);
    expect(beats).toBeLessThanOrEqual(4); // one timer for the attempt, not one more for its call inside it
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 700, refundedCents: 0 });
  });

  it('a cancel interrupts a long call at once instead of letting it run to its end', async () => {
    const acts = createActivities(pool, { inventory: { latencyMs: 60_000, failureRate: 0 }, payment: noService, notify: noService });
    const { ref } = await newOrder();
    const env = new MockActivityEnvironment();
    const reserving = env.run(acts.reserveInventory, ref);
    await sleep(100);
    env.cancel();
    // Settles well before the 60 s call would have: vitest's 60 s test timeout is the bound.
    await expect(reserving).rejects.toBeInstanceOf(CancelledFailure);
    expect((await getOrder(pool, ref.orderId))!.status).toBe('PENDING');
  });
});

describe('reserve and charge heartbeat for the whole attempt, their SQL included', () => {
  /** How long the test keeps the pool's only connection: more than two heartbeat intervals. */
  const HOLD_MS = 2.5 * HEARTBEAT_INTERVAL_MS;
  let small: Pool;
  beforeAll(() => {
    small = createPool(inject('testEnv').databaseUrl, 1);
  });
  afterAll(async () => {
    await small.end();
  });

  /**
   * Runs `step` on a pool whose only connection is taken for HOLD_MS, as a pool
   * short of connections is: the attempt waits for one before or after its call.
   * Answers the heartbeats it sent and how it ended.
   */
  async function runWhilePoolIsBusy(step: (env: MockActivityEnvironment) => Promise<unknown>) {
    const held = await small.connect();
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const running = step(env).then(() => undefined, (err: unknown) => err);
    await sleep(HOLD_MS);
    held.release();
    return { beats, error: await running };
  }

  const acts = () => createActivities(small, { inventory: noService, payment: noService, notify: noService });

  it('the claim before the call: claimAndReserve waiting for a connection keeps heartbeating', async () => {
    const { ref } = await newOrder(450, 1, 'STARTING');
    const { beats, error } = await runWhilePoolIsBusy((env) => env.run(acts().claimAndReserve, ref, 'run-a'));
    expect(error).toBeUndefined();
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'RESERVED' });
  });

  it("the transaction after the call: reserveInventory waiting for a connection keeps heartbeating", async () => {
    const { ref } = await newOrder();
    const { beats, error } = await runWhilePoolIsBusy((env) => env.run(acts().reserveInventory, ref));
    expect(error).toBeUndefined();
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'RESERVED' });
  });

  it('the read before the call: chargePayment waiting for a connection keeps heartbeating', async () => {
    const { ref } = await newOrder(650);
    await new MockActivityEnvironment().run(acts().reserveInventory, ref);
    const { beats, error } = await runWhilePoolIsBusy((env) => env.run(acts().chargePayment, ref));
    expect(error).toBeUndefined();
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(await payment(ref.orderId)).toEqual({ chargedCents: 650, refundedCents: 0 });
  });

  it('a cancel that arrives while the charge waits for the database sends no charge to the provider', async () => {
    const { ref } = await newOrder();
    const { error } = await runWhilePoolIsBusy(async (env) => {
      const charging = env.run(acts().chargePayment, ref);
      await sleep(HEARTBEAT_INTERVAL_MS / 2);
      env.cancel();
      return charging;
    });
    expect(error).toBeInstanceOf(CancelledFailure);
    await sleep(200); // a request sent anyway would land now
    expect(await providerRow(ref)).toBeUndefined();
  });

  it('an attempt shorter than a heartbeat interval sends no heartbeat at all', async () => {
    const { ref } = await newOrder(300);
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    await env.run(acts().claimAndReserve, ref, 'run-a');
    await env.run(acts().chargePayment, ref);
    expect(beats).toBe(0);
  });
});

describe("the API's withdrawal of an order and the saga's claim exclude each other", () => {
  it('claimed first: the withdrawal fails and the order stays', async () => {
    const { ref } = await newOrder(450, 1, 'STARTING');
    expect(await markStarted(pool, ref, 'run-a', null)).toBe(true);
    expect(await withdrawStart(pool, ref, null)).toBe('CLAIMED');
    expect(await getOrder(pool, ref.orderId)).not.toBeNull();
  });

  it('withdrawn first: the row is gone and a late claim finds nothing', async () => {
    const { ref } = await newOrder(450, 1, 'STARTING');
    expect(await withdrawStart(pool, ref, null)).toBe('WITHDRAWN');
    expect(await markStarted(pool, ref, 'run-a', null)).toBe(false);
    expect(await getOrder(pool, ref.orderId)).toBeNull();
  });

  it('racing: exactly one of the two wins, every time', async () => {
    const orders = await Promise.all(Array.from({ length: 30 }, () => newOrder(450, 1, 'STARTING')));
    const outcomes = await Promise.all(
      orders.map(async ({ ref }, i) => {
        const [claimed, withdrawn] =
          i % 2 === 0
            ? await Promise.all([markStarted(pool, ref, 'run-a', null), withdrawStart(pool, ref, null).then((w) => w === 'WITHDRAWN')])
            : await Promise.all([withdrawStart(pool, ref, null).then((w) => w === 'WITHDRAWN'), markStarted(pool, ref, 'run-a', null)]).then(
                ([w, c]) => [c, w],
              );
        const exists = (await getOrder(pool, ref.orderId)) !== null;
        return { claimed, withdrawn, exists };
      }),
    );
    for (const o of outcomes) {
      expect(o.claimed !== o.withdrawn).toBe(true);
      expect(o.exists).toBe(o.claimed);
    }
  });

  it('a second run of the same attempt (a late start, after the first claimed and closed) cannot claim it', async () => {
    const { ref } = await newOrder(450, 1, 'STARTING');
    expect(await markStarted(pool, ref, 'run-a', null)).toBe(true);
    expect(await markStarted(pool, ref, 'run-b', null)).toBe(false);
    expect(await markStarted(pool, ref, 'run-a', null)).toBe(true); // run A's retried claim
  });

  it("a run left over from a withdrawn request cannot claim the attempt a later request committed (the token)", async () => {
    const { ref } = await newOrder(450, 1, 'STARTING');
    await pool.query(`UPDATE orders SET start_token = $2 WHERE id = $1`, [ref.orderId, 'b0000000-0000-4000-8000-00000000000b']);
    // Run A carries the token of request A, whose attempt was withdrawn; request B committed this one.
    expect(await markStarted(pool, ref, 'run-a', 'a0000000-0000-4000-8000-00000000000a')).toBe(false);
    expect(await markStarted(pool, ref, 'run-b', 'b0000000-0000-4000-8000-00000000000b')).toBe(true);
  });

  describe('the reserve step claiming for its run (saga 0.3.0 on)', () => {
    const acts = () => createActivities(pool, { inventory: noService, payment: noService, notify: noService });
    const reserved = async (orderId: string) =>
      (await pool.query(`SELECT count(*)::int AS n FROM inventory_reservations WHERE order_id = $1`, [orderId])).rows[0].n;

    it('claims a STARTING order, reserves it, and the withdrawal then fails', async () => {
      const { ref } = await newOrder(450, 1, 'STARTING');
      expect(await new MockActivityEnvironment().run(acts().claimAndReserve, ref, 'run-a')).toBe('RESERVED');
      expect(await withdrawStart(pool, ref, null)).toBe('CLAIMED');
      expect(await getOrder(pool, ref.orderId)).toMatchObject({ status: 'RESERVED' });
      // A retry of the same run's reserve (a lost reply) is accepted and changes nothing.
      expect(await new MockActivityEnvironment().run(acts().claimAndReserve, ref, 'run-a')).toBe('RESERVED');
      expect(await reserved(ref.orderId)).toBe(1);
    });

    it('a withdrawn order, or one another run holds, is not claimed and nothing is reserved', async () => {
      const withdrawn = await newOrder(450, 1, 'STARTING');
      expect(await withdrawStart(pool, withdrawn.ref, null)).toBe('WITHDRAWN');
      expect(await new MockActivityEnvironment().run(acts().claimAndReserve, withdrawn.ref, 'run-a')).toBe('NOT_CLAIMED');
      expect(await reserved(withdrawn.ref.orderId)).toBe(0);

      const held = await newOrder(450, 1, 'STARTING');
      expect(await markStarted(pool, held.ref, 'run-a', null)).toBe(true);
      expect(await new MockActivityEnvironment().run(acts().claimAndReserve, held.ref, 'run-b')).toBe('NOT_CLAIMED');
      expect(await reserved(held.ref.orderId)).toBe(0);
      expect(await getOrder(pool, held.ref.orderId)).toMatchObject({ status: 'PENDING' });
    });
  });

  it("a retry's withdrawal puts the order back to its failed attempt", async () => {
    const { ref } = await newOrder(450, 1, 'STARTED');
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [ref.orderId]);
    await pool.query(`UPDATE orders SET attempt = 2, status = 'PENDING', failure_reason = NULL, start_state = 'STARTING' WHERE id = $1`, [
      ref.orderId,
    ]);
    expect(await withdrawStart(pool, { ...ref, attempt: 2 }, null)).toBe('WITHDRAWN');
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ attempt: 1, status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' });
    expect(await markStarted(pool, { ...ref, attempt: 2 }, 'run-a', null)).toBe(false);
  });
});

describe('database limits', () => {
  it('an order of more than 2^31 cents is stored and charged exactly', async () => {
    const acts = createActivities(pool, { inventory: noService, payment: noService, notify: noService });
    const { ref } = await newOrder(100_000_000, 50); // 5,000,000,000 cents
    await new MockActivityEnvironment().run(acts.reserveInventory, ref);
    await new MockActivityEnvironment().run(acts.chargePayment, ref);
    expect(await getOrder(pool, ref.orderId)).toMatchObject({ amountCents: 5_000_000_000, payment: { chargedCents: 5_000_000_000 } });
  });

  it('every pooled connection has a statement timeout, so an abandoned statement cannot hold it', async () => {
    const res = await pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(res.rows[0]!.statement_timeout).toBe('10s');
    await expect(pool.query('SELECT pg_sleep(11)')).rejects.toThrow(/statement timeout/);
  }, 20_000);
});
