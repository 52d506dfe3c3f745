import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOrderIdentity, markStarted } from '../../activities/orders/records';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { TemporalUnavailableError, type OrderWorkflows, type StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';
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
function scripted(onStart: (input: OrderInput) => Promise<StartOutcome>): OrderWorkflows & { starts: OrderInput[] } {
  const starts: OrderInput[] = [];
  return {
    starts,
    start: async (input) => {
      starts.push(input);
      return onStart(input);
    },
    cancel: async () => {
      throw new Error('not expected');
    },
    waitForClose: async () => undefined,
    ping: async () => undefined,
  };
}

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
    expect(await httpStatus(service(workflows).place(await body(), undefined))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await findOrderIdentity(pool, workflows.starts[0]!.orderId)).toBeNull();
  });

  it('start timed out but its run claimed the order first: 202, and the order stays', async () => {
    const workflows = scripted(async (input) => {
      await markStarted(pool, { orderId: input.orderId, attempt: 1 }, 'run-1'); // the run's claim
      return timeout();
    });
    const placed = await service(workflows).place(await body(), undefined);
    expect(placed.status).toBe('PENDING');
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED' });
  });

  it('an open run of the order already exists (an earlier request landed late): 202, left for that run to claim', async () => {
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }));
    const placed = await service(workflows).place(await body(), 'key-' + Math.random());
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTING' });
  });

  it('a clean start confirms the row', async () => {
    const workflows = scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }));
    const placed = await service(workflows).place(await body(), undefined);
    expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED', status: 'PENDING' });
  });
});

describe('retrying an order when the start is not clearly confirmed', () => {
  async function failedOrder(): Promise<string> {
    const placed = await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }))).place(await body(), undefined);
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [placed.orderId]);
    return placed.orderId;
  }

  it("attempt 1's run is still open: 409 RETRY_IN_PROGRESS, and the order is back as it was", async () => {
    const orderId = await failedOrder();
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }));
    expect(await httpStatus(service(workflows).retry(orderId))).toBe('409 RETRY_IN_PROGRESS');
    expect(await findOrderIdentity(pool, orderId)).toMatchObject({ attempt: 1, status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' });
  });

  it("attempt 2's own run is open (its start landed late): 202", async () => {
    const orderId = await failedOrder();
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 2 }));
    expect(await service(workflows).retry(orderId)).toMatchObject({ attempt: 2, status: 'PENDING' });
    expect(await findOrderIdentity(pool, orderId)).toMatchObject({ attempt: 2, status: 'PENDING' });
  });

  it('start timed out and nothing claimed attempt 2: 503, the order is FAILED at attempt 1 again and can be retried', async () => {
    const orderId = await failedOrder();
    expect(await httpStatus(service(scripted(timeout)).retry(orderId))).toBe('503 TEMPORAL_UNAVAILABLE');
    expect(await findOrderIdentity(pool, orderId)).toMatchObject({ attempt: 1, status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' });
    expect(await service(scripted(async () => ({ kind: 'STARTED', runId: 'run-1' }))).retry(orderId)).toMatchObject({ attempt: 2 });
  });
});

describe('cancelling an order whose start is not confirmed yet', () => {
  it('answers 409 START_IN_PROGRESS instead of a final NOT_CANCELLABLE, and sends nothing to Temporal', async () => {
    const workflows = scripted(async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }));
    const placed = await service(workflows).place(await body(), 'key-' + Math.random());
    expect(await httpStatus(service(workflows).cancel(placed.orderId))).toBe('409 START_IN_PROGRESS');
  });
});
