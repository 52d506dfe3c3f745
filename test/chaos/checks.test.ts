import { describe, expect, it } from 'vitest';
import { checkRun, VIOLATION_KINDS, type ViolationKind } from '../../chaos/checks';
import type { Ledger } from '../../chaos/ledger';
import { temporal } from '@temporalio/proto';
import { failedWorkflowTasks, type Truth } from '../../chaos/truth';

/**
 * The chaos run's checks are only worth their "zero violations" if they find a
 * violation when there is one: each test below breaks one invariant by hand in
 * an otherwise consistent state and expects exactly that kind to be counted.
 */
const A = '00000000-0000-5000-8000-00000000000a'; // completed, 2 × sku-1 at 500
const B = '00000000-0000-5000-8000-00000000000b'; // cancelled after its charge was refunded
const C = '00000000-0000-5000-8000-00000000000c'; // failed PAYMENT_UNAVAILABLE, retried, completed on attempt 2
const D = '00000000-0000-5000-8000-00000000000d'; // answered 503: no order, its late run abandoned

function consistent(): { ledger: Ledger; truth: Truth; initialStock: Record<string, number> } {
  const ledger: Ledger = {
    placements: [
      { key: 'k-a', replies: [{ status: 0 }, { status: 202 }], orderId: A, outcome: 'accepted' },
      { key: 'k-b', replies: [{ status: 202 }], orderId: B, outcome: 'accepted' },
      { key: null, replies: [{ status: 202 }], orderId: C, outcome: 'accepted' },
      { key: 'k-d', replies: [{ status: 503, code: 'TEMPORAL_UNAVAILABLE' }], outcome: 'unavailable' },
    ],
    repeats: [{ key: 'k-a', sameBody: true, firstOrderId: A, reply: { status: 202 }, orderId: A }],
    cancels: [{ orderId: B, delayMs: 700, replies: [{ status: 202 }], accepted: true }],
    retries: [{ orderId: C, reply: { status: 202 } }],
  };
  const completed = (id: string, runId: string, startedAtMs: number) => ({
    workflowId: `order-${id}`,
    runId,
    status: 'COMPLETED',
    startedAtMs,
    result: { status: 'COMPLETED', failureReason: null },
    failedWorkflowTasks: [],
  });
  const truth: Truth = {
    orders: [
      { id: A, status: 'COMPLETED', failureReason: null, attempt: 1, amountCents: 1000, idempotencyKey: 'k-a', items: [{ productId: 'sku-1', quantity: 2 }] },
      { id: B, status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER', attempt: 1, amountCents: 500, idempotencyKey: 'k-b', items: [{ productId: 'sku-1', quantity: 1 }] },
      { id: C, status: 'COMPLETED', failureReason: null, attempt: 2, amountCents: 700, idempotencyKey: null, items: [{ productId: 'sku-2', quantity: 1 }] },
    ],
    charges: [
      { key: `order-${A}-1`, status: 'SUCCEEDED', amountCents: 1000, refundedCents: 0 },
      { key: `order-${B}-1`, status: 'REFUNDED', amountCents: 500, refundedCents: 500 },
      { key: `order-${C}-1`, status: 'CANCELED', amountCents: 0, refundedCents: 0 },
      { key: `order-${C}-2`, status: 'SUCCEEDED', amountCents: 700, refundedCents: 0 },
    ],
    payments: [
      { orderId: A, attempt: 1, chargedCents: 1000, refundedCents: 0 },
      { orderId: B, attempt: 1, chargedCents: 500, refundedCents: 500 },
      { orderId: C, attempt: 1, chargedCents: 0, refundedCents: 0 },
      { orderId: C, attempt: 2, chargedCents: 700, refundedCents: 0 },
    ],
    reservations: [
      { orderId: A, attempt: 1, status: 'COMMITTED' },
      { orderId: B, attempt: 1, status: 'RELEASED' },
      { orderId: C, attempt: 1, status: 'RELEASED' },
      { orderId: C, attempt: 2, status: 'COMMITTED' },
    ],
    products: [
      { id: 'sku-1', onHand: 8, reserved: 0 },
      { id: 'sku-2', onHand: 4, reserved: 0 },
    ],
    confirmations: [A, C],
    runs: [
      completed(A, 'a1', 1),
      { workflowId: `order-${B}`, runId: 'b1', status: 'COMPLETED', startedAtMs: 2, result: { status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' }, failedWorkflowTasks: [] },
      { workflowId: `order-${C}`, runId: 'c1', status: 'COMPLETED', startedAtMs: 3, result: { status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' }, failedWorkflowTasks: [] },
      completed(C, 'c2', 9),
      { workflowId: `order-${D}`, runId: 'd1', status: 'COMPLETED', startedAtMs: 4, result: { status: 'PENDING', failureReason: null, abandoned: true }, failedWorkflowTasks: [] },
    ],
  };
  return { ledger, truth, initialStock: { 'sku-1': 10, 'sku-2': 5 } };
}

function only(result: ReturnType<typeof checkRun>, kinds: ViolationKind[]): void {
  const expected = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, kinds.filter((x) => x === k).length]));
  expect(result.violations).toEqual(expected);
}

describe('chaos invariant checks', () => {
  it('find nothing wrong in a consistent state (retried, cancelled, abandoned and replayed orders included)', () => {
    const { ledger, truth, initialStock } = consistent();
    const result = checkRun(ledger, truth, initialStock);
    only(result, []);
    expect(result).toMatchObject({ orders: 3, lost: 0, unfinished: 0 });
  });

  it('find a double charge', () => {
    const { ledger, truth, initialStock } = consistent();
    // Attempt 1 of the retried order was charged too and never refunded.
    truth.charges[2] = { key: `order-${C}-1`, status: 'SUCCEEDED', amountCents: 700, refundedCents: 0 };
    truth.payments[2] = { orderId: C, attempt: 1, chargedCents: 700, refundedCents: 0 };
    only(checkRun(ledger, truth, initialStock), ['double_charge']);
  });

  it('find a cancelled order that kept its charge', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.charges[1] = { key: `order-${B}-1`, status: 'SUCCEEDED', amountCents: 500, refundedCents: 0 };
    truth.payments[1] = { orderId: B, attempt: 1, chargedCents: 500, refundedCents: 0 };
    const result = checkRun(ledger, truth, initialStock);
    expect(result.violations.cancelled_with_net_charge).toBe(1);
    expect(result.examples.cancelled_with_net_charge).toEqual([B]);
  });

  it('count a 202 whose order is missing as lost', () => {
    const { ledger, truth, initialStock } = consistent();
    const lostId = '00000000-0000-5000-8000-0000000000ee';
    ledger.placements.push({ key: 'k-e', replies: [{ status: 202 }], orderId: lostId, outcome: 'accepted' });
    const result = checkRun(ledger, truth, initialStock);
    expect(result.lost).toBe(1);
    expect(result.orders).toBe(4);
  });

  it('find stock that does not match the completed orders', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.products[0] = { id: 'sku-1', onHand: 7, reserved: 0 };
    only(checkRun(ledger, truth, initialStock), ['stock_mismatch']);
  });

  it('find an order that exists although its request was answered 503', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.orders.push({ id: D, status: 'COMPLETED', failureReason: null, attempt: 1, amountCents: 0, idempotencyKey: 'k-d', items: [] });
    expect(checkRun(ledger, truth, initialStock).violations.order_after_503).toBe(1);
  });

  it('find an order that no answer explains, allowing one per unanswered request without a key', () => {
    const { ledger, truth, initialStock } = consistent();
    const stray = (id: string, idempotencyKey: string | null) =>
      ({ id, status: 'FAILED', failureReason: 'OUT_OF_STOCK', attempt: 1, amountCents: 0, idempotencyKey, items: [] });
    const run = (id: string) => ({ workflowId: `order-${id}`, runId: `r-${id}`, status: 'COMPLETED', startedAtMs: 5, result: { status: 'FAILED', failureReason: 'OUT_OF_STOCK' }, failedWorkflowTasks: [] });
    const [x, y, z] = ['00000000-0000-5000-8000-0000000000f1', '00000000-0000-5000-8000-0000000000f2', '00000000-0000-5000-8000-0000000000f3'];
    truth.orders.push(stray(x, 'k-never-sent'), stray(y, null), stray(z, null));
    truth.runs.push(run(x), run(y), run(z));
    ledger.placements.push({ key: null, replies: [{ status: 0 }], outcome: 'ambiguous' });
    only(checkRun(ledger, truth, initialStock), ['order_without_202', 'order_without_202']);
  });

  it('find a final status that differs from the latest acting run, and a workflow still running', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.runs[3] = { ...truth.runs[3]!, result: { status: 'FAILED', failureReason: 'PAYMENT_DECLINED' } };
    truth.runs.push({ workflowId: `order-${A}`, runId: 'a2', status: 'RUNNING', startedAtMs: 10, failedWorkflowTasks: [] });
    only(checkRun(ledger, truth, initialStock), ['status_differs_from_workflow', 'workflow_left_running']);
  });

  it('find an accepted cancel that did not cancel, and a charge with no stock taken', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.orders[1] = { ...truth.orders[1]!, status: 'COMPLETED', failureReason: null };
    truth.runs[1] = { ...truth.runs[1]!, result: { status: 'COMPLETED', failureReason: null } };
    truth.charges[1] = { key: `order-${B}-1`, status: 'SUCCEEDED', amountCents: 500, refundedCents: 0 };
    truth.payments[1] = { orderId: B, attempt: 1, chargedCents: 500, refundedCents: 0 };
    truth.confirmations.push(B);
    truth.products[0] = { id: 'sku-1', onHand: 7, reserved: 0 };
    only(checkRun(ledger, truth, initialStock), ['cancel_not_honoured', 'charge_without_stock']);
  });

  it('count every failed workflow task, also of a run that later completed, and name its run and cause', () => {
    const { ledger, truth, initialStock } = consistent();
    const nondeterminism = {
      cause: 'NON_DETERMINISTIC_ERROR',
      message: '[TMPRL1100] Nondeterminism error: Timer machine does not handle this event: HistoryEvent(id: 14, WorkflowExecutionUpdateCompleted)',
    };
    // Order C's second run failed two tasks and was then replayed to the end by a task that succeeded:
    // every status and all the money agree, only the history shows it.
    truth.runs[3] = { ...truth.runs[3]!, failedWorkflowTasks: [nondeterminism, nondeterminism] };
    const result = checkRun(ledger, truth, initialStock);
    expect(result.violations.workflow_task_failed).toBe(2);
    only(result, ['workflow_task_failed', 'workflow_task_failed']);
    expect(result.examples.workflow_task_failed).toEqual([`order-${C}/c2 (NON_DETERMINISTIC_ERROR)`]);
  });

  it('count every run whose history the build cannot replay, also one with no failed task; not a run skipped as pinned to another build', () => {
    const { ledger, truth, initialStock } = consistent();
    // Order C's second run completed on a worker that had it cached: no WorkflowTaskFailed event,
    // every status and all the money agree, only a replay of the history from its start fails.
    const error = 'DeterminismViolationError: [TMPRL1100] Nondeterminism error: Timer machine does not handle this event: HistoryEvent(id: 14, WorkflowExecutionUpdateCompleted)';
    truth.runs[3] = { ...truth.runs[3]!, replay: { outcome: 'failed', error } };
    truth.runs[0] = { ...truth.runs[0]!, replay: { outcome: 'skipped', reason: 'pinned to order-saga:0.4.0-63dab5c834, not order-saga:0.5.0-12dc201bc8' } };
    truth.runs[1] = { ...truth.runs[1]!, replay: { outcome: 'replayed' } };
    const result = checkRun(ledger, truth, initialStock);
    only(result, ['history_not_replayable']);
    expect(result.examples.history_not_replayable).toEqual([`order-${C}/c2: ${error}`]);
  });

  it('count orders without a final status as unfinished', () => {
    const { ledger, truth, initialStock } = consistent();
    truth.orders[0] = { ...truth.orders[0]!, status: 'PAID' };
    expect(checkRun(ledger, truth, initialStock).unfinished).toBe(1);
  });

  it("read a run's failed workflow tasks from its history: each failure with its cause, nothing for a timed-out task", () => {
    const { WorkflowTaskFailedCause: Cause } = temporal.api.enums.v1;
    const history: temporal.api.history.v1.IHistory = {
      events: [
        { workflowExecutionStartedEventAttributes: {} },
        { workflowTaskTimedOutEventAttributes: {} }, // the worker was killed: not a failure
        {
          workflowTaskFailedEventAttributes: {
            cause: Cause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
            failure: { message: '[TMPRL1100] Nondeterminism error: Timer machine does not handle this event\nstack: ...' },
          },
        },
        { workflowTaskFailedEventAttributes: { cause: Cause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, failure: { message: 'boom' } } },
        { workflowTaskCompletedEventAttributes: {} },
      ],
    };
    expect(failedWorkflowTasks(history)).toEqual([
      { cause: 'NON_DETERMINISTIC_ERROR', message: '[TMPRL1100] Nondeterminism error: Timer machine does not handle this event' },
      { cause: 'WORKFLOW_WORKER_UNHANDLED_FAILURE', message: 'boom' },
    ]);
  });
});
