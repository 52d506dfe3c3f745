import { createHash, randomUUID } from 'node:crypto';
import {
  findOrderIdentity,
  findOrderIdentityByKey,
  getOrder,
  insertNewOrder,
  markStarted,
  withdrawStart,
  type OrderIdentity,
  type OrderView,
} from '../../activities/orders/records';
import type { Pool } from '../../lib/db/pool';
import { isTerminal, type OrderInput, type OrderStatus } from '../../workflows/types';
import { mayAccess, type Caller } from '../auth';
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

/** Fingerprint of what the client asked for, independent of key order and line order. */
export function requestHash(body: CreateOrderBody): string {
  const canonical = {
    customerId: body.customerId,
    paymentMethod: body.paymentMethod,
    items: [...body.items].sort((a, b) => a.productId.localeCompare(b.productId)).map((i) => [i.productId, i.quantity]),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** Longer than a start's deadline plus a withdrawal: how long a twin request waits for the first one's outcome. */
const TWIN_WAIT_MS = 10_000;

/** How long withdrawStart keeps trying when PostgreSQL fails it, before admitting the outcome is unknown. */
const WITHDRAW_RETRY_DELAYS_MS = [100, 400, 1_000, 2_000];

export class OrderService {
  constructor(
    private readonly pool: Pool,
    private readonly workflows: OrderWorkflows,
    private readonly options: OrderServiceOptions,
  ) {}

  /**
   * Accepts an order: prices it from the catalogue, commits it as PENDING with
   * its start unconfirmed, then starts its saga outside any transaction. If the
   * start fails or its outcome is unknown, the order is withdrawn unless its run
   * has already claimed it (startOrWithdraw): a 503 then means no order exists
   * and none will run, and a 202 means exactly one saga runs for it.
   *
   * The order belongs to `caller`, and so does its Idempotency-Key: the same key
   * from another caller is another order. The id is random, never derived from
   * the key, so nobody can work out another caller's order id from a key; a
   * repeated request finds its order through the (owner, key) row instead, which
   * outlives the workflow's history.
   */
  async place(body: CreateOrderBody, idempotencyKey: string | undefined, caller: Caller): Promise<PlacedOrder> {
    const hash = requestHash(body);
    if (idempotencyKey) {
      const existing = await findOrderIdentityByKey(this.pool, caller.name, idempotencyKey);
      if (existing) return this.replay(existing, hash);
    }
    const orderId = randomUUID();

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
      fenced: true,
    };

    if (!(await insertNewOrder(this.pool, input, caller.name))) {
      // A twin request (same caller, same key) inserted first: answer from its row.
      // Only a key can conflict, so one was sent.
      const twin = await findOrderIdentityByKey(this.pool, caller.name, idempotencyKey!);
      if (!twin) throw unavailable(new TemporalUnavailableError('the twin request withdrew the order'));
      return this.replay(twin, hash);
    }
    await this.startOrWithdraw(input, (err) => unavailable(err));
    return { orderId, status: 'PENDING', replayed: false };
  }

  async cancel(orderId: string, caller: Caller): Promise<{ orderId: string; status: OrderStatus }> {
    const order = await this.identityOr404(orderId, caller);
    // COMPENSATING is for the saga to judge: a repeat of a cancel being carried
    // out is accepted again, a cancel during the undoing of a failure is not.
    if (isTerminal(order.status)) throw notCancellable(order.status);
    // Its run may not exist yet (or may be a closed earlier attempt's): a cancel
    // now could reach nothing, so say "not yet" rather than "never".
    if (order.startState === 'STARTING') throw startInProgress(orderId);
    try {
      return await this.workflows.cancel(orderId);
    } catch (err) {
      if (err instanceof NotCancellableError) {
        const now = await this.identityOr404(orderId, caller);
        if (!isTerminal(now.status) && now.status !== 'COMPENSATING') throw startInProgress(orderId);
        throw notCancellable(now.status);
      }
      if (err instanceof TemporalUnavailableError) {
        // An Update that timed out may still have been delivered: do not say it was not.
        throw new HttpError(503, 'TEMPORAL_UNAVAILABLE', 'The workflow service did not confirm the cancel in time; it may still apply. Check the order, or retry the cancel.');
      }
      throw err;
    }
  }

  /**
   * Runs the saga again for an order that failed because the payment provider
   * stayed down. The new run is attempt N+1: its reservation and charge are
   * keyed by the new attempt, and attempt N's were already undone, so the
   * customer is charged at most once in total. The row moves to attempt N+1
   * first and goes back to attempt N if the start fails (startOrWithdraw).
   */
  async retry(orderId: string, caller: Caller): Promise<{ orderId: string; status: OrderStatus; attempt: number }> {
    const order = await this.identityOr404(orderId, caller);
    if (order.status !== 'FAILED' || order.failureReason !== 'PAYMENT_UNAVAILABLE') throw notRetryable(order);
    // The previous run writes FAILED just before it closes; let it close.
    await this.workflows.waitForClose(orderId, 5_000);
    const view = (await getOrder(this.pool, orderId))!;
    const attempt = order.attempt + 1;
    const input = sagaInputFor(view, attempt, this.options.paymentBudgetMs);
    const moved = await this.pool.query(
      `UPDATE orders SET attempt = $2, status = 'PENDING', failure_reason = NULL, start_state = 'STARTING',
                         claimed_run_id = NULL, updated_at = now()
       WHERE id = $1 AND attempt = $3 AND status = 'FAILED' AND failure_reason = 'PAYMENT_UNAVAILABLE'`,
      [orderId, attempt, order.attempt],
    );
    if (moved.rowCount === 0) throw notRetryable((await findOrderIdentity(this.pool, orderId))!);
    await this.startOrWithdraw(input, (err) =>
      err instanceof RunningAlreadyError
        ? new HttpError(409, 'RETRY_IN_PROGRESS', 'The previous run is still closing; retry in a moment.')
        : unavailable(err),
    );
    return { orderId, status: 'PENDING', attempt };
  }

  /**
   * Starts the run of an attempt whose row is committed as STARTING. When the
   * start did not clearly succeed, the attempt is withdrawn unless its run has
   * claimed it already; PostgreSQL orders the withdrawal against the run's
   * claim, so either the client hears `withdrawnError` and no run acts, or the
   * order goes ahead and the client hears 202. Never both, never neither.
   */
  private async startOrWithdraw(input: OrderInput, withdrawnError: (err: unknown) => Error): Promise<void> {
    const ref = { orderId: input.orderId, attempt: input.attempt };
    let failure: unknown;
    try {
      const outcome = await this.workflows.start(input);
      if (outcome.kind === 'STARTED') {
        // Claims the row for the run just created (saves the re-drive a look);
        // that run's own claim then succeeds, and no other run's can.
        await markStarted(this.pool, ref, outcome.runId).catch(() => undefined);
        return;
      }
      // An open run of this attempt (a start of an earlier request that landed
      // late, or the re-drive's) claims the row when it runs. If it is already
      // past its claim, the re-drive starts another.
      if (outcome.runningAttempt === input.attempt || input.attempt === 1) return;
      failure = new RunningAlreadyError();
    } catch (err) {
      failure = err;
    }
    if (await this.withdraw(ref)) throw withdrawnError(failure);
    // The run claimed the order before we could withdraw it: it goes ahead.
  }

  /** withdrawStart, retried through a short PostgreSQL hiccup; 500 OUTCOME_UNKNOWN if it stays down. */
  private async withdraw(ref: { orderId: string; attempt: number }): Promise<boolean> {
    for (const delayMs of [...WITHDRAW_RETRY_DELAYS_MS, undefined]) {
      try {
        return await withdrawStart(this.pool, ref);
      } catch {
        if (delayMs === undefined) break;
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
    // The start may have happened and the order may or may not be withdrawn. The
    // re-drive starts it if it is still there; the client can look it up.
    throw new HttpError(
      500,
      'OUTCOME_UNKNOWN',
      'The order could not be confirmed or withdrawn. It may still go ahead: look it up before placing it again.',
      { orderId: ref.orderId, attempt: ref.attempt },
    );
  }

  /**
   * An earlier request with the same key: the same order if the body matches.
   * While that request is still starting the order, its outcome is not known
   * yet; this waits for it (the start answers within its deadline) rather than
   * say "accepted" for an order that may still be withdrawn.
   */
  private async replay(existing: OrderIdentity, hash: string): Promise<PlacedOrder> {
    if (existing.requestHash !== hash) {
      throw new HttpError(
        422,
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was already used with a different request body.',
        { orderId: existing.orderId },
      );
    }
    let current: OrderIdentity | null = existing;
    const deadline = Date.now() + TWIN_WAIT_MS;
    while (current.startState === 'STARTING' && current.attempt === 1) {
      if (Date.now() > deadline) throw requestInProgress(existing.orderId);
      await new Promise((r) => setTimeout(r, 50));
      current = await findOrderIdentity(this.pool, existing.orderId);
      // The first request withdrew it: Temporal refused it a moment ago, and no order exists.
      if (!current) throw unavailable(new TemporalUnavailableError('the earlier request withdrew the order'));
    }
    return { orderId: current.orderId, status: current.status, replayed: true };
  }

  /** Another caller's order is "not found" too: a 403 would confirm that the id exists. */
  private async identityOr404(orderId: string, caller: Caller): Promise<OrderIdentity> {
    const order = await findOrderIdentity(this.pool, orderId);
    if (!order || !mayAccess(caller, order.owner)) throw orderNotFound(orderId);
    return order;
  }
}

/**
 * The saga's input for one attempt of an order already recorded (a retry, or the
 * re-drive of an unconfirmed start): everything comes from its row. The
 * Idempotency-Key and request hash stay with the row; only the first start's
 * input carries them.
 */
export function sagaInputFor(order: OrderView, attempt: number, paymentBudgetMs: number): OrderInput {
  return {
    orderId: order.orderId,
    customerId: order.customerId,
    items: order.items,
    amountCents: order.amountCents,
    paymentMethod: order.paymentMethod,
    attempt,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs,
    fenced: true,
  };
}

/** A start that met an open run of another attempt (the previous one, still closing). */
class RunningAlreadyError extends Error {}

function unavailable(err: unknown): Error {
  if (err instanceof TemporalUnavailableError) {
    return new HttpError(503, 'TEMPORAL_UNAVAILABLE', 'The workflow service is unavailable; nothing was changed. Retry later.');
  }
  return err instanceof Error ? err : new Error(String(err));
}

function startInProgress(orderId: string): HttpError {
  return new HttpError(409, 'START_IN_PROGRESS', 'The order is still being started; retry the cancel in a moment.', { orderId });
}

function requestInProgress(orderId: string): HttpError {
  return new HttpError(
    409,
    'REQUEST_IN_PROGRESS',
    'A request with this Idempotency-Key is still being processed; retry in a moment.',
    { orderId },
  );
}

export function orderNotFound(orderId: string): HttpError {
  return new HttpError(404, 'ORDER_NOT_FOUND', `No order ${orderId}.`);
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
