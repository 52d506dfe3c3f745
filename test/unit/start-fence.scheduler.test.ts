import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_CALLER } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { sweepUnconfirmedStarts } from '../../api/orders/start-sweep';
import type { Pool } from '../../lib/db/pool';
import { freshProduct, testPool } from '../support/db';
import { releaseAll, scheduledPool, scheduledRuns, scheduledWorkflows, type ScheduledStart } from '../support/scheduled';

/**
 * The start fence under interleavings that fast-check's scheduler picks: the
 * API's request (its insert, its start, its confirmation or withdrawal), the run
 * that Temporal created (its claim), the sweep of unconfirmed starts, a write
 * whose reply is lost after it committed, and an API that dies mid-request.
 * Every statement against the real PostgreSQL waits for the scheduler's turn,
 * and one runs at a time, so a failing order is replayed exactly from its seed.
 *
 * Whatever the order, the answer must be true: 202 means exactly one run acts
 * for the order, 503 means none does and no order is left, 500 OUTCOME_UNKNOWN
 * may be either, and a request that got no answer leaves an order only when a
 * run that Temporal had already created claimed it.
 */

let pool: Pool;
let productId: string;
beforeAll(async () => {
  pool = testPool();
  productId = (await freshProduct(pool, { stock: 1_000_000 })).id;
});
afterAll(async () => {
  await pool.end();
});

type Temporal = ScheduledStart;
const FENCE_WRITES = ['INSERT INTO orders', 'DELETE FROM orders', "SET start_state = 'STARTED'"] as const;

interface Scenario {
  temporal: Temporal;
  sweeps: number;
  /** The fence write whose reply is lost after it committed, if any. */
  lose: (typeof FENCE_WRITES)[number] | null;
  keyed: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  temporal: fc.constantFrom<Temporal>('started', 'created, then timed out', 'timed out', 'refused', 'api died before the start', 'api died after the start'),
  sweeps: fc.integer({ min: 0, max: 2 }),
  lose: fc.constantFrom(null, ...FENCE_WRITES),
  keyed: fc.boolean(),
});

/** Runs one scenario under the scheduler `s`; returns the answer and what became of the order. */
async function play(s: fc.Scheduler, sc: Scenario) {
  const { pool: scheduled, inFlight } = scheduledPool(pool, s, '', { lose: sc.lose });

  const { runs, acted, actors: runActors, createRun } = scheduledRuns(s, pool);
  let placedId: string | undefined;
  const workflows = scheduledWorkflows(s, sc.temporal, createRun, { onStart: (input) => (placedId = input.orderId) });
  const service = new OrderService(scheduled, workflows, { paymentBudgetMs: 60_000 });
  const body = { customerId: 'c-sched', items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa' };
  const key = sc.keyed ? `sched-${Math.random()}` : undefined;

  let answer: string | undefined;
  const request = service.place(body, key, OPEN_CALLER).then(
    () => (answer = '202'),
    (e: unknown) => (answer = e instanceof HttpError ? `${e.status} ${e.code}` : `thrown: ${String(e)}`),
  );
  const dies = sc.temporal.startsWith('api died');
  // A sweep whose own write loses its reply fails; the next round (the final one below) retries.
  const sweeps = Array.from({ length: sc.sweeps }, async () => {
    await s.schedule(Promise.resolve(), 'sweep');
    await sweepUnconfirmedStarts(scheduled, 0).catch(() => undefined);
  });

  // Release one scheduled step at a time, and let it finish (its statement, the
  // timers of a retried write) before the next one.
  await releaseAll(s, () => (answer !== undefined || dies) && inFlight() === 0, inFlight);
  void request;
  await Promise.all([...sweeps, ...runActors].map((p) => p.catch(() => undefined)));
  // Once every request is long gone, the sweep settles whatever is left.
  await sweepUnconfirmedStarts(pool, 0);
  const row = placedId
    ? (await pool.query<{ start_state: string; claimed_run_id: string | null }>('SELECT start_state, claimed_run_id FROM orders WHERE id = $1', [placedId])).rows[0]
    : undefined;
  return { answer, runs, acted, row, dies };
}

describe('the start fence under scheduled interleavings', () => {
  it('every answer is true, whatever the order of the request, its run, the sweep and a lost reply', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, sc) => {
        const { answer, runs, acted, row, dies } = await play(s, sc);
        // At most one run acts, and a run acts exactly when the order exists.
        expect(acted.length).toBeLessThanOrEqual(1);
        expect(row !== undefined).toBe(acted.length === 1);
        if (row) expect(row).toEqual({ start_state: 'STARTED', claimed_run_id: acted[0] });
        if (answer === '202') expect(acted).toHaveLength(1);
        if (answer?.startsWith('503')) expect(acted).toHaveLength(0);
        if (answer !== undefined && answer !== '202' && !answer.startsWith('503')) expect(answer).toBe('500 OUTCOME_UNKNOWN');
        // No answer: an order is left only if Temporal had already created its run.
        if (dies && runs.length === 0) expect(row).toBeUndefined();
        if (!dies) expect(answer).toBeDefined();
      }),
      { numRuns: Number(process.env.FENCE_RUNS ?? 200), verbose: 1 },
    );
  });
});
