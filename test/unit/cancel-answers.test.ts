import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOrderIdentity } from '../../store/orders';
import { OPEN_CALLER } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { OrderService } from '../../api/orders/order-service';
import { WorkflowClosedError, type OrderWorkflows } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { recordingWorkflows } from '../support/app';
import { freshProduct, testPool } from '../support/db';

/**
 * What a cancel answers when the workflow cannot take it: each answer must say
 * what is true of the order, and "retry in a moment" only when a moment helps.
 */

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

const answer = (p: Promise<unknown>) => p.then(() => '202', (e: unknown) => (e instanceof HttpError ? `${e.status} ${e.code}` : `thrown: ${String(e)}`));

async function startedOrder(): Promise<string> {
  const product = await freshProduct(pool);
  const placed = await new OrderService(pool, recordingWorkflows().workflows, { paymentBudgetMs: 60_000 }).place(
    { customerId: 'c-cancel', items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'pm_card_visa' },
    undefined,
    OPEN_CALLER,
  );
  expect(await findOrderIdentity(pool, placed.orderId)).toMatchObject({ startState: 'STARTED', status: 'PENDING' });
  return placed.orderId;
}

/** What the production gateway reports for an Update sent to a closed run (WorkflowNotFoundError; workflow-gateway.test.ts). */
const closedRun: OrderWorkflows = {
  ...recordingWorkflows().workflows,
  cancel: async () => {
    throw new WorkflowClosedError('workflow execution already completed');
  },
};

describe('a cancel that meets a closed run of an order the database still shows open', () => {
  it('(an operator terminated the workflow) answers 409 WORKFLOW_CLOSED, not "retry in a moment" for ever', async () => {
    const orderId = await startedOrder();
    const svc = new OrderService(pool, closedRun, { paymentBudgetMs: 60_000 });
    expect(await answer(svc.cancel(orderId, OPEN_CALLER))).toBe('409 WORKFLOW_CLOSED');
  });

  it('(the run finished the order meanwhile) answers 409 NOT_CANCELLABLE with the final status', async () => {
    const orderId = await startedOrder();
    const finishing: OrderWorkflows = {
      ...closedRun,
      cancel: async () => {
        await pool.query(`UPDATE orders SET status = 'COMPLETED' WHERE id = $1`, [orderId]);
        return closedRun.cancel(orderId);
      },
    };
    const err = await new OrderService(pool, finishing, { paymentBudgetMs: 60_000 }).cancel(orderId, OPEN_CALLER).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, code: 'NOT_CANCELLABLE', details: { status: 'COMPLETED' } });
  });
});
