import type { Ledger } from './ledger';
import type { OrderRow, Truth } from './truth';

/** Every invariant the run checks, each counted separately in the report. */
export const VIOLATION_KINDS = [
  // The client's answers against the stores.
  'order_after_503',
  'order_without_202',
  'idempotency_broken',
  'cancel_not_honoured',
  'accepted_order_not_found',
  // PostgreSQL against Temporal.
  'status_differs_from_workflow',
  'order_without_saga',
  'saga_without_order',
  'workflow_left_running',
  'workflow_not_completed',
  // Counted per failed task, also when a later task of the run succeeded: a workflow that cannot
  // replay its own history (a nondeterminism) may recover on a worker that has it cached, or not.
  'workflow_task_failed',
  // Counted per run whose history the build's workflow code cannot replay from its start, failed
  // task or not: a worker that had the run cached may have carried it to completion (saga 0.4).
  'history_not_replayable',
  // Money: the provider's ledger and our record of it.
  'double_charge',
  'double_refund',
  'completed_not_paid',
  'failed_order_keeps_charge',
  'cancelled_with_net_charge',
  'payment_record_differs',
  'charge_without_stock',
  // Stock and notifications.
  'stock_mismatch',
  'stock_still_reserved',
  'confirmed_not_completed',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface CheckResult {
  /** Orders the API accepted (a 202), counted once per order. */
  orders: number;
  violations: Record<ViolationKind, number>;
  /** A few ids (orders, products, workflows) per violated kind, to start looking from. */
  examples: Partial<Record<ViolationKind, string[]>>;
  /** 202s with no order in PostgreSQL. */
  lost: number;
  /** Orders in PostgreSQL without a final status. */
  unfinished: number;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const KEY_PATTERN = /^order-([0-9a-f-]{36})-(\d+)$/;
const EXAMPLES_PER_KIND = 5;

function sumBy<T>(items: T[], key: (item: T) => string, value: (item: T) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + value(item));
  return out;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(key(item)) ?? [];
    list.push(item);
    out.set(key(item), list);
  }
  return out;
}

/**
 * Holds what the driver was told (the ledger) against what the stores hold (the
 * truth) after the system has drained. `initialStock` is each product's units
 * on hand before the run.
 */
export function checkRun(ledger: Ledger, truth: Truth, initialStock: Record<string, number>): CheckResult {
  const violations = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  const examples: CheckResult['examples'] = {};
  const flag = (kind: ViolationKind, id: string) => {
    violations[kind]++;
    const list = (examples[kind] ??= []);
    if (list.length < EXAMPLES_PER_KIND && !list.includes(id)) list.push(id);
  };
  const orders = new Map(truth.orders.map((o) => [o.id, o]));
  const orderByKey = new Map(truth.orders.filter((o) => o.idempotencyKey).map((o) => [o.idempotencyKey!, o]));

  // Every 202 has its order; a 503 left none; nothing exists that no answer explains.
  const accepted = new Set<string>();
  let lost = 0;
  let unkeyedAmbiguous = 0;
  const explainedByKey = new Set<string>();
  for (const p of ledger.placements) {
    const byKey = p.key ? orderByKey.get(p.key) : undefined;
    if (p.outcome === 'accepted') {
      accepted.add(p.orderId!);
      if (!orders.has(p.orderId!)) lost++;
      if (p.key && byKey && byKey.id !== p.orderId) flag('idempotency_broken', p.orderId!);
    } else if (p.outcome === 'unavailable' && byKey) {
      flag('order_after_503', byKey.id);
    } else if (p.outcome === 'ambiguous') {
      if (byKey) explainedByKey.add(byKey.id);
      if (!p.key) unkeyedAmbiguous++;
    }
  }
  // Orders of keys last answered 503 are counted as order_after_503 above, not again here.
  const unavailableKeys = new Set(ledger.placements.filter((p) => p.key && p.outcome === 'unavailable').map((p) => p.key!));
  const unexplained = truth.orders.filter(
    (o) => !accepted.has(o.id) && !explainedByKey.has(o.id) && !(o.idempotencyKey && unavailableKeys.has(o.idempotencyKey)),
  );
  // An unanswered request without a key may have created an order we cannot name: those are allowed, up to their number.
  const unkeyedUnexplained = unexplained.filter((o) => !o.idempotencyKey);
  for (const o of unexplained.filter((o) => o.idempotencyKey)) flag('order_without_202', o.id);
  for (const o of unkeyedUnexplained.slice(unkeyedAmbiguous)) flag('order_without_202', o.id);

  for (const r of ledger.repeats) {
    if (r.sameBody && r.reply.status === 202 && r.orderId !== r.firstOrderId) flag('idempotency_broken', r.firstOrderId);
    if (!r.sameBody && r.reply.status !== 422 && r.reply.status !== 0 && r.reply.status < 500) flag('idempotency_broken', r.firstOrderId);
  }
  for (const c of ledger.cancels) {
    if (c.replies.some((r) => r.status === 404)) flag('accepted_order_not_found', c.orderId);
    if (c.accepted && orders.get(c.orderId)?.status !== 'CANCELLED') flag('cancel_not_honoured', c.orderId);
  }

  checkWorkflows(truth, orders, flag);
  checkMoney(truth, flag);
  checkStock(truth, initialStock, flag);
  for (const id of truth.confirmations) if (orders.get(id)?.status !== 'COMPLETED') flag('confirmed_not_completed', id);

  return {
    orders: accepted.size,
    violations,
    examples,
    lost,
    unfinished: truth.orders.filter((o) => !TERMINAL.has(o.status)).length,
  };
}

type Flag = (kind: ViolationKind, id: string) => void;

/**
 * The latest run that acted decides the workflow's answer: a retried order has
 * one run per attempt, and a run that found its order withdrawn or claimed by
 * another run ends `abandoned` without acting.
 */
function checkWorkflows(truth: Truth, orders: Map<string, OrderRow>, flag: Flag): void {
  const runsByOrder = groupBy(truth.runs, (r) => r.workflowId.replace(/^order-/, ''));
  for (const [orderId, runs] of runsByOrder) {
    if (runs.some((r) => r.status === 'RUNNING')) flag('workflow_left_running', `order-${orderId}`);
    for (const r of runs) if (r.status !== 'RUNNING' && r.status !== 'COMPLETED') flag('workflow_not_completed', `order-${orderId}/${r.runId}`);
    for (const r of runs) for (const task of r.failedWorkflowTasks) flag('workflow_task_failed', `order-${orderId}/${r.runId} (${task.cause})`);
    for (const r of runs) if (r.replay?.outcome === 'failed') flag('history_not_replayable', `order-${orderId}/${r.runId}: ${r.replay.error}`);
    const acting = runs.filter((r) => r.result && !r.result.abandoned).sort((a, b) => a.startedAtMs - b.startedAtMs);
    const order = orders.get(orderId);
    if (!order) {
      if (acting.length > 0) flag('saga_without_order', `order-${orderId}`);
      continue;
    }
    const last = acting.at(-1);
    if (!last) {
      if (!runs.some((r) => r.status === 'RUNNING')) flag('order_without_saga', orderId);
    } else if (last.result!.status !== order.status || (last.result!.failureReason ?? null) !== order.failureReason) {
      flag('status_differs_from_workflow', orderId);
    }
  }
  for (const o of orders.values()) if (!runsByOrder.has(o.id)) flag('order_without_saga', o.id);
}

/** The provider's ledger is what the customer was charged; `payments` is our record of it. */
function checkMoney(truth: Truth, flag: Flag): void {
  const chargesByOrder = groupBy(
    truth.charges.filter((c) => KEY_PATTERN.test(c.key)),
    (c) => KEY_PATTERN.exec(c.key)![1]!,
  );
  const ourNet = sumBy(truth.payments, (p) => p.orderId, (p) => p.chargedCents - p.refundedCents);
  const committed = new Set(truth.reservations.filter((r) => r.status === 'COMMITTED').map((r) => `${r.orderId}/${r.attempt}`));
  for (const order of truth.orders) {
    const charges = chargesByOrder.get(order.id) ?? [];
    const net = charges.reduce((sum, c) => sum + c.amountCents - c.refundedCents, 0);
    const unrefunded = charges.filter((c) => c.status === 'SUCCEEDED' && c.amountCents > 0).length;
    if (unrefunded > 1 || net > order.amountCents) flag('double_charge', order.id);
    if (charges.some((c) => c.refundedCents > c.amountCents)) flag('double_refund', order.id);
    const finalKey = `order-${order.id}-${order.attempt}`;
    if (!TERMINAL.has(order.status)) continue;
    if (order.status === 'COMPLETED') {
      if (charges.some((c) => c.key === finalKey && c.refundedCents > 0)) flag('double_refund', order.id);
      else if (net < order.amountCents) flag('completed_not_paid', order.id);
    }
    if (order.status === 'FAILED' && net !== 0) flag('failed_order_keeps_charge', order.id);
    if (order.status === 'CANCELLED' && (net !== 0 || (ourNet.get(order.id) ?? 0) !== 0)) flag('cancelled_with_net_charge', order.id);
    if ((ourNet.get(order.id) ?? 0) !== net) flag('payment_record_differs', order.id);
    if (net > 0 && !committed.has(`${order.id}/${order.attempt}`)) flag('charge_without_stock', order.id);
  }
}

/**
 * On hand = the starting stock minus what COMPLETED orders took; reserved =
 * what the open reservations of unfinished orders hold (nothing, once every
 * order is final); a final order holds no reservation.
 */
function checkStock(truth: Truth, initialStock: Record<string, number>, flag: Flag): void {
  const orders = new Map(truth.orders.map((o) => [o.id, o]));
  const sold = new Map<string, number>();
  for (const o of truth.orders) {
    if (o.status !== 'COMPLETED') continue;
    for (const line of o.items) sold.set(line.productId, (sold.get(line.productId) ?? 0) + line.quantity);
  }
  const held = new Map<string, number>();
  for (const r of truth.reservations) {
    const order = orders.get(r.orderId);
    if (r.status !== 'RESERVED' || !order) continue;
    if (TERMINAL.has(order.status)) flag('stock_still_reserved', r.orderId);
    else for (const line of order.items) held.set(line.productId, (held.get(line.productId) ?? 0) + line.quantity);
  }
  for (const p of truth.products) {
    const initial = initialStock[p.id];
    if (initial !== undefined && p.onHand !== initial - (sold.get(p.id) ?? 0)) flag('stock_mismatch', p.id);
    if (p.reserved !== (held.get(p.id) ?? 0)) flag('stock_still_reserved', p.id);
  }
}
