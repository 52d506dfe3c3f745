import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markStarted } from '../../store/orders';
import { OPEN_CALLER } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { sweepUnconfirmedStarts } from '../../api/orders/start-sweep';
import { TemporalUnavailableError, type OrderWorkflows, type StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';
import { freshProduct, testPool } from '../support/db';

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

type Temporal = 'started' | 'created, then timed out' | 'timed out' | 'refused' | 'api died before the start' | 'api died after the start';
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
  let inFlight = 0;
  let lost = false;
  // Every statement takes its turn from the scheduler, then runs alone.
  const query = async (...args: unknown[]): Promise<unknown> => {
    const text = String(args[0]);
    await s.schedule(Promise.resolve(), text.slice(0, 40));
    inFlight++;
    try {
      const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      if (!lost && sc.lose && text.includes(sc.lose)) {
        lost = true;
        throw new Error('Connection terminated unexpectedly (reply lost after commit)');
      }
      return result;
    } finally {
      inFlight--;
    }
  };
  const scheduledPool = new Proxy(pool, { get: (t, p, r) => (p === 'query' ? query : Reflect.get(t, p, r)) }) as Pool;

  const runs: string[] = [];
  const acted: string[] = [];
  const runActors: Array<Promise<void>> = [];
  /**
   * A run of the saga: its first step claims the row, whenever a worker picks it
   * up (the scheduler decides: before the API settles, or long after the sweep),
   * and only a run whose claim succeeds acts.
   */
  const createRun = (input: OrderInput): string => {
    const runId = `run-${runs.length + 1}`;
    runs.push(runId);
    runActors.push(
      (async () => {
        await s.schedule(Promise.resolve(), `${runId} claims`);
        if (await markStarted(pool, { orderId: input.orderId, attempt: input.attempt }, runId, input.startToken ?? null)) acted.push(runId);
      })(),
    );
    return runId;
  };
  let placedId: string | undefined;
  const workflows: OrderWorkflows = {
    start: async (input): Promise<StartOutcome> => {
      placedId = input.orderId;
      await s.schedule(Promise.resolve(), `start: ${sc.temporal}`);
      switch (sc.temporal) {
        case 'started':
          return { kind: 'STARTED', runId: createRun(input) };
        case 'created, then timed out':
          createRun(input);
          throw new TemporalUnavailableError('deadline exceeded');
        case 'timed out':
          throw new TemporalUnavailableError('deadline exceeded');
        case 'refused':
          throw Object.assign(new Error('7 PERMISSION_DENIED'), { code: 7, details: 'denied', metadata: {} });
        case 'api died before the start':
          return new Promise<never>(() => undefined);
        case 'api died after the start':
          createRun(input);
          return new Promise<never>(() => undefined);
      }
    },
    cancel: async () => {
      throw new Error('not used');
    },
    waitForClose: async () => undefined,
    ping: async () => undefined,
  };
  const service = new OrderService(scheduledPool, workflows, { paymentBudgetMs: 60_000 });
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
    await sweepUnconfirmedStarts(scheduledPool, 0).catch(() => undefined);
  });

  // Release one scheduled step at a time, and let it finish (its statement, the
  // timers of a retried write) before the next one.
  const settled = () => (answer !== undefined || dies) && inFlight === 0;
  for (let idle = 0; idle < 400; ) {
    if (s.count() > 0) {
      await s.waitNext(1);
      idle = 0;
    } else if (settled()) {
      idle += 50;
    } else {
      idle++;
    }
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, s.count() > 0 ? 0 : 5));
  }
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
