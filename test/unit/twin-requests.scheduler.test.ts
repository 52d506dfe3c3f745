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
 * Twin requests: two POST /api/orders with the same Idempotency-Key and body in
 * flight at once, each in its own API process (its own OrderService and pool).
 * Whichever inserts the order starts it; the other finds the row and waits for
 * its outcome. docs/saga.md promises the waiting one the same answer: the same
 * order (202), or the same 503 with the same code and cause. fast-check's
 * scheduler picks the order of every statement of both requests, of the run
 * Temporal created and of a sweep of unconfirmed starts, and one write of the
 * first process may commit and lose its reply.
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

type Temporal = Extract<ScheduledStart, 'started' | 'created, then timed out' | 'timed out' | 'refused'>;

interface Scenario {
  temporal: Temporal;
  /** The gRPC status of a refusal. */
  refusal: 'PERMISSION_DENIED' | 'UNAUTHENTICATED';
  sweep: boolean;
  /** The write of the first process whose reply is lost after it committed, if any. */
  lose: 'INSERT INTO orders' | 'DELETE FROM orders' | "SET start_state = 'STARTED'" | null;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  temporal: fc.constantFrom<Temporal>('started', 'created, then timed out', 'timed out', 'refused'),
  refusal: fc.constantFrom<Scenario['refusal']>('PERMISSION_DENIED', 'UNAUTHENTICATED'),
  sweep: fc.boolean(),
  lose: fc.constantFrom<Scenario['lose']>(null, 'INSERT INTO orders', 'DELETE FROM orders', "SET start_state = 'STARTED'"),
});

const GRPC_CODE = { PERMISSION_DENIED: 7, UNAUTHENTICATED: 16 } as const;

/** What a client hears: `202 <orderId>`, or the status, code and `details.cause` of the error. */
function heard(result: { orderId: string } | unknown, ok: boolean): string {
  if (ok) return `202 ${(result as { orderId: string }).orderId}`;
  if (result instanceof HttpError) return `${result.status} ${result.code} ${String((result.details as { cause?: string } | undefined)?.cause ?? '-')}`;
  return `thrown: ${String(result)}`;
}

async function play(s: fc.Scheduler, sc: Scenario) {
  const inserted = new Set<string>();
  /** Per process: whether its insert found the twin's row (the key conflicted). */
  const conflicted = [false, false];
  const noteInsert = (api: number) => (text: string, values: unknown[], result: unknown) => {
    if (!text.includes('INSERT INTO orders')) return;
    if (((result as { rows?: Array<{ inserted?: number }> }).rows?.[0]?.inserted ?? 0) > 0) inserted.add(String(values[0]));
    else conflicted[api] = true;
  };
  const apis = [
    scheduledPool(pool, s, 'api 1: ', { lose: sc.lose, onCommitted: noteInsert(0) }),
    scheduledPool(pool, s, 'api 2: ', { onCommitted: noteInsert(1) }),
    scheduledPool(pool, s, 'sweep: '),
  ];
  const inFlight = () => apis.reduce((n, a) => n + a.inFlight(), 0);

  const { actors: runActors, createRun } = scheduledRuns(s, pool);
  const workflows = scheduledWorkflows(s, sc.temporal, createRun, { refusal: [GRPC_CODE[sc.refusal], sc.refusal] });
  const body = { customerId: 'c-twin', items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa' };
  const key = `twin-${Math.random()}`;
  const answers: Array<string | undefined> = [undefined, undefined];
  const requests = [0, 1].map((i) =>
    new OrderService(apis[i]!.pool, workflows, { paymentBudgetMs: 60_000 }).place(body, key, OPEN_CALLER).then(
      (placed) => (answers[i] = heard(placed, true)),
      (err: unknown) => (answers[i] = heard(err, false)),
    ),
  );
  const sweep = sc.sweep
    ? (async () => {
        await s.schedule(Promise.resolve(), 'sweep');
        await sweepUnconfirmedStarts(apis[2]!.pool, 0).catch(() => undefined);
      })()
    : Promise.resolve();

  await releaseAll(s, () => answers.every((a) => a !== undefined) && inFlight() === 0, inFlight);
  await Promise.all([...requests, sweep, ...runActors].map((p) => p.catch(() => undefined)));
  // The first process's insert conflicted and its reply was lost: it never learned of the
  // twin, and truly says its own write failed (503 DATABASE_UNAVAILABLE, nothing changed).
  const blind = conflicted[0]! && sc.lose === 'INSERT INTO orders';
  return { answers, inserted, blind };
}

describe('twin requests under scheduled interleavings', () => {
  it('the request that waited for its twin answers what the twin answered: the same order, or the same 503 with its cause', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, sc) => {
        const { answers, inserted, blind } = await play(s, sc);
        expect(answers.every((a) => a !== undefined && !a.startsWith('thrown'))).toBe(true);
        // Two orders: the second request came after the first had withdrawn its own, so it was no twin.
        if (inserted.size === 1 && !blind) expect(answers[1]).toBe(answers[0]);
      }),
      { numRuns: Number(process.env.TWIN_RUNS ?? 150), verbose: 1 },
    );
  });
});
