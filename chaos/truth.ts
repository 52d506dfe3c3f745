import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Pool } from '../lib/db/pool';

/**
 * The system's state after the run, as its stores hold it: PostgreSQL (our
 * tables and the simulated provider's ledger) and Temporal (every run of every
 * workflow). Plain data, so the checks are pure functions and can be tested on
 * hand-made states.
 */
export interface OrderRow {
  id: string;
  status: string;
  failureReason: string | null;
  attempt: number;
  amountCents: number;
  idempotencyKey: string | null;
  items: Array<{ productId: string; quantity: number }>;
}

export interface ProviderCharge {
  key: string;
  status: string;
  amountCents: number;
  refundedCents: number;
}

export interface PaymentRow {
  orderId: string;
  attempt: number;
  chargedCents: number;
  refundedCents: number;
}

export interface ReservationRow {
  orderId: string;
  attempt: number;
  status: string;
}

export interface ProductRow {
  id: string;
  onHand: number;
  reserved: number;
}

export interface WorkflowRun {
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  status: string;
  startedAtMs: number;
  /** The saga's result, for a COMPLETED run. */
  result?: { status: string; failureReason: string | null; abandoned?: boolean };
  /**
   * Every WorkflowTaskFailed event of the run's history: a worker that could not
   * run the workflow's code on its history (a nondeterminism, an exception in
   * workflow code). The history keeps them even when a later task succeeded and
   * whatever happened to the worker that failed them, unlike its metrics.
   */
  failedWorkflowTasks: FailedWorkflowTask[];
  /**
   * What became of the run's history when it was replayed from its start through the
   * workflow bundle of the stack's build (chaos/replay.ts); absent until then.
   */
  replay?: ReplayOutcome;
}

export type ReplayOutcome =
  | { outcome: 'replayed' }
  /** `error` is the error's class and the first line of its cause (chaos/replay.ts, describeError). */
  | { outcome: 'failed'; error: string }
  /** Pinned to another build than the stack's, whose code this replay does not hold. */
  | { outcome: 'skipped'; reason: string };

export interface FailedWorkflowTask {
  /** The cause's enum name without its prefix, e.g. NON_DETERMINISTIC_ERROR. */
  cause: string;
  /** The first line of the failure's message. */
  message: string;
}

export interface Truth {
  orders: OrderRow[];
  charges: ProviderCharge[];
  payments: PaymentRow[];
  reservations: ReservationRow[];
  products: ProductRow[];
  /** `order_confirmed` notifications, one entry per row. */
  confirmations: string[];
  runs: WorkflowRun[];
}

export async function readDatabase(pool: Pool): Promise<Omit<Truth, 'runs'>> {
  const [orders, items, charges, payments, reservations, products, confirmations] = await Promise.all([
    pool.query(`SELECT id, status, failure_reason, attempt, amount_cents, idempotency_key FROM orders`),
    pool.query(`SELECT order_id, product_id, quantity FROM order_items`),
    pool.query(`SELECT idempotency_key, status, amount_cents, refunded_cents FROM simulated_provider.charges`),
    pool.query(`SELECT order_id, attempt, charged_cents, refunded_cents FROM payments`),
    pool.query(`SELECT order_id, attempt, status FROM inventory_reservations`),
    pool.query(`SELECT id, on_hand, reserved FROM products`),
    pool.query(`SELECT order_id FROM notifications WHERE type = 'order_confirmed'`),
  ]);
  const linesOf = new Map<string, OrderRow['items']>();
  for (const r of items.rows) {
    const lines = linesOf.get(r.order_id) ?? [];
    lines.push({ productId: r.product_id, quantity: r.quantity });
    linesOf.set(r.order_id, lines);
  }
  return {
    orders: orders.rows.map((r) => ({
      id: r.id,
      status: r.status,
      failureReason: r.failure_reason,
      attempt: r.attempt,
      amountCents: Number(r.amount_cents),
      idempotencyKey: r.idempotency_key,
      items: linesOf.get(r.id) ?? [],
    })),
    charges: charges.rows.map((r) => ({
      key: r.idempotency_key,
      status: r.status,
      amountCents: Number(r.amount_cents),
      refundedCents: Number(r.refunded_cents),
    })),
    payments: payments.rows.map((r) => ({
      orderId: r.order_id,
      attempt: r.attempt,
      chargedCents: Number(r.charged_cents),
      refundedCents: Number(r.refunded_cents),
    })),
    reservations: reservations.rows.map((r) => ({ orderId: r.order_id, attempt: r.attempt, status: r.status })),
    products: products.rows.map((r) => ({ id: r.id, onHand: r.on_hand, reserved: r.reserved })),
    confirmations: confirmations.rows.map((r) => r.order_id),
  };
}

/** Runs fetched at once: enough to keep the dev server busy, few enough not to queue behind each other. */
const RESULT_CONCURRENCY = 8;

export interface WorkflowsRead {
  runs: WorkflowRun[];
  /** Each run's history by its run id, for the replay (kept out of `runs`, which truth.json holds). */
  histories: Map<string, temporal.api.history.v1.IHistory>;
}

/**
 * Every run of every workflow in the namespace, with the saga's result for each
 * completed run and the failed workflow tasks of each run's history.
 */
export async function readWorkflows(address: string, namespace = 'default'): Promise<WorkflowsRead> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const runs: WorkflowRun[] = [];
    const histories = new Map<string, temporal.api.history.v1.IHistory>();
    for await (const wf of client.workflow.list()) {
      runs.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status.name, startedAtMs: wf.startTime.getTime(), failedWorkflowTasks: [] });
    }
    for (let i = 0; i < runs.length; i += RESULT_CONCURRENCY) {
      await Promise.all(
        runs.slice(i, i + RESULT_CONCURRENCY).map(async (run) => {
          const handle = client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false });
          const history = await handle.fetchHistory();
          histories.set(run.runId, history);
          run.failedWorkflowTasks = failedWorkflowTasks(history);
          if (run.status === 'COMPLETED') run.result = (await handle.result()) as WorkflowRun['result'];
        }),
      );
    }
    return { runs, histories };
  } finally {
    await connection.close();
  }
}

const CAUSES = temporal.api.enums.v1.WorkflowTaskFailedCause;

export function failedWorkflowTasks(history: temporal.api.history.v1.IHistory): FailedWorkflowTask[] {
  return (history.events ?? []).flatMap((event) => {
    const failed = event.workflowTaskFailedEventAttributes;
    if (!failed) return [];
    const cause = (CAUSES[failed.cause ?? 0] ?? String(failed.cause)).replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
    return [{ cause, message: (failed.failure?.message ?? '').split('\n')[0]! }];
  });
}

/** Workflows with an open run: how the drain knows Temporal has finished too. */
export async function countOpenWorkflows(address: string, namespace = 'default'): Promise<number> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    const client = new Client({ connection, namespace });
    return (await client.workflow.count('ExecutionStatus = "Running"')).count;
  } finally {
    await connection.close();
  }
}
