import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  findOrderIdentity,
  getOrder,
  insertOrder,
  type OrderIdentity,
} from '../../activities/orders/records';
import { inTransaction, type Pool } from '../../lib/db/pool';
import { isTerminal, type OrderInput, type OrderStatus } from '../../workflows/types';
import { HttpError } from '../errors';
import type { CreateOrderBody } from '../schemas';
import { priceLines } from './pricing';
import { NotCancellableError, TemporalUnavailableError, type OrderWorkflows } from './workflow-gateway';

export interface PlacedOrder {
  orderId: string;
  status: OrderStatus;
  /** True when an earlier request with the same Idempotency-Key created it. */
  replayed: boolean;
}

export interface OrderServiceOptions {
  paymentBudgetMs: number;
}

// UUID namespace for ids derived from idempotency keys (any fixed UUID works).
const IDEMPOTENCY_NAMESPACE = 'b3c1f1d2-6a55-4e0c-9a57-6f7a3c0e2f10';

/**
 * The same key always maps to the same order id (a name-based UUID, RFC 9562 v5).
 * That turns "two identical requests at once" into a primary-key conflict in
 * PostgreSQL and a workflow-id conflict in Temporal: both are resolved by the
 * stores themselves, with no lock of ours.
 */
export function orderIdForKey(key: string): string {
  const ns = Buffer.from(IDEMPOTENCY_NAMESPACE.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(key, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Fingerprint of what the client asked for, independent of key order and line order. */
export function requestHash(body: CreateOrderBody): string {
  const canonical = {
    customerId: body.customerId,
    paymentMethod: body.paymentMethod,
    items: [...body.items].sort((a, b) => a.productId.localeCompare(b.productId)).map((i) => [i.productId, i.quantity]),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

function unavailable(err: unknown): never {
  if (err instanceof TemporalUnavailableError) {
    throw new HttpError(503, 'TEMPORAL_UNAVAILABLE', 'The workflow service is unavailable; nothing was changed. Retry later.');
  }
  throw err;
}

export class OrderService {
  constructor(
    private readonly pool: Pool,
    private readonly workflows: OrderWorkflows,
    private readonly options: OrderServiceOptions,
  ) {}

  /**
   * Accepts an order: prices it from the catalogue, records it as PENDING and
   * starts its saga, all or nothing. The row and the workflow start share one
   * transaction: if Temporal refuses, the row is rolled back and the client gets
   * 503; if this process dies after the start but before the commit, the saga's
   * first activity writes the same row, so the order is never lost.
   */
  async place(body: CreateOrderBody, idempotencyKey: string | undefined): Promise<PlacedOrder> {
    const hash = requestHash(body);
    const orderId = idempotencyKey ? orderIdForKey(idempotencyKey) : randomUUID();
    if (idempotencyKey) {
      const existing = await findOrderIdentity(this.pool, orderId);
      if (existing) return replay(existing, hash);
    }

    const { items, amountCents } = await priceLines(this.pool, body.items);
    const input: OrderInput = {
      orderId,
      customerId: body.customerId,
      items,
      amountCents,
      paymentMethod: body.paymentMethod,
      attempt: 1,
      idempotencyKey: idempotencyKey ?? null,
      requestHash: hash,
      paymentBudgetMs: this.options.paymentBudgetMs,
    };

    const created = await inTransaction(this.pool, async (tx) => {
      // With a concurrent twin, this insert waits for the twin's transaction and
      // then reports a conflict; we answer from the row the twin committed.
      if (!(await insertOrder(tx, input))) return false;
      await this.workflows.start(input).catch(unavailable);
      return true;
    });
    if (created) return { orderId, status: 'PENDING', replayed: false };
    const twin = await findOrderIdentity(this.pool, orderId);
    if (!twin) throw new HttpError(409, 'CONFLICT', 'A concurrent request for this key failed; retry.');
    return replay(twin, hash);
  }

  async cancel(orderId: string): Promise<{ orderId: string; status: OrderStatus }> {
    const order = await this.identityOr404(orderId);
    if (isTerminal(order.status)) throw notCancellable(order.status);
    try {
      return await this.workflows.cancel(orderId);
    } catch (err) {
      if (err instanceof NotCancellableError) {
        const now = await this.identityOr404(orderId);
        throw notCancellable(now.status);
      }
      return unavailable(err);
    }
  }

  /**
   * Runs the saga again for an order that failed because the payment provider
   * stayed down. The new run is attempt N+1: its reservation and charge are
   * keyed by the new attempt, and attempt N's were already undone, so the
   * customer is charged at most once in total.
   */
  async retry(orderId: string): Promise<{ orderId: string; status: OrderStatus; attempt: number }> {
    const order = await this.identityOr404(orderId);
    if (order.status !== 'FAILED' || order.failureReason !== 'PAYMENT_UNAVAILABLE') throw notRetryable(order);
    // The previous run writes FAILED just before it closes; let it close.
    await this.workflows.waitForClose(orderId, 5_000);
    const view = (await getOrder(this.pool, orderId))!;
    const attempt = order.attempt + 1;
    const input: OrderInput = {
      orderId,
      customerId: view.customerId,
      items: view.items,
      amountCents: view.amountCents,
      paymentMethod: view.paymentMethod,
      attempt,
      idempotencyKey: null,
      requestHash: null,
      paymentBudgetMs: this.options.paymentBudgetMs,
    };
    await inTransaction(this.pool, async (tx) => {
      const moved = await tx.query(
        `UPDATE orders SET attempt = $2, status = 'PENDING', failure_reason = NULL, updated_at = now()
         WHERE id = $1 AND attempt = $3 AND status = 'FAILED' AND failure_reason = 'PAYMENT_UNAVAILABLE'`,
        [orderId, attempt, order.attempt],
      );
      if (moved.rowCount === 0) throw notRetryable((await findOrderIdentity(tx, orderId))!);
      await this.workflows.start(input).catch((err: unknown) => {
        // The previous run has not closed yet (it writes FAILED just before it does).
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new HttpError(409, 'RETRY_IN_PROGRESS', 'The previous run is still closing; retry in a moment.');
        }
        return unavailable(err);
      });
    });
    return { orderId, status: 'PENDING', attempt };
  }

  private async identityOr404(orderId: string): Promise<OrderIdentity> {
    const order = await findOrderIdentity(this.pool, orderId);
    if (!order) throw orderNotFound(orderId);
    return order;
  }
}

export function orderNotFound(orderId: string): HttpError {
  return new HttpError(404, 'ORDER_NOT_FOUND', `No order ${orderId}.`);
}

function replay(existing: OrderIdentity, hash: string): PlacedOrder {
  if (existing.requestHash !== hash) {
    throw new HttpError(
      422,
      'IDEMPOTENCY_KEY_REUSED',
      'This Idempotency-Key was already used with a different request body.',
      { orderId: existing.orderId },
    );
  }
  return { orderId: existing.orderId, status: existing.status, replayed: true };
}

function notCancellable(status: OrderStatus): HttpError {
  return new HttpError(409, 'NOT_CANCELLABLE', `The order is ${status} and can no longer be cancelled.`, { status });
}

function notRetryable(order: OrderIdentity): HttpError {
  return new HttpError(
    409,
    'NOT_RETRYABLE',
    'Only orders that FAILED with PAYMENT_UNAVAILABLE can be retried.',
    { status: order.status, failureReason: order.failureReason },
  );
}
