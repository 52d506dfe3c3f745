import { createHash, randomUUID } from 'node:crypto';
import {
  confirmStart,
  findOrderIdentity,
  findOrderIdentityByKey,
  findStartRefusal,
  findStartRefusalByKey,
  getOrder,
  insertNewOrder,
  moveToNextAttempt,
  withdrawStart,
  type OrderIdentity,
  type OrderView,
  type StartRefusal,
  type StartSettlement,
} from '../../store/orders';
import { DatabaseNotReachedError, isDatabaseUnavailable, onConnection, type Pool, type PoolClient } from '../../lib/db/pool';
import { isTerminal, type OrderInput, type OrderStatus } from '../../workflows/types';
import { mayAccess, type Caller } from '../auth';
import { HttpError, databaseUnavailable } from '../errors';
import type { CreateOrderBody } from '../schemas';
import { priceLines } from './pricing';
import {
  NotCancellableError,
  TemporalUnavailableError,
  WorkflowClosedError,
  startFailureCause,
  type OrderWorkflows,
  type StartOutcome,
} from './workflow-gateway';

export interface PlacedOrder {
  orderId: string;
  status: OrderStatus;
  /** True when an earlier request with the same Idempotency-Key created it. */
  replayed: boolean;
}

export interface OrderServiceOptions {
  paymentBudgetMs: number;
}

/**
 * Fingerprint of what the client asked for, independent of key order and line
 * order. Lines are ordered by code point (UTF-8 bytes sort so), never by a
 * locale's collation: two API processes with other locales or ICU versions must
 * hash one body alike, or a legitimate replay would be answered 422.
 */
export function requestHash(body: CreateOrderBody): string {
  return fingerprint(body, ([pa, qa], [pb, qb]) => Buffer.compare(Buffer.from(pa), Buffer.from(pb)) || qa - qb);
}

/**
 * The fingerprint 0.3 stored: lines in this process's collation order. Rows
 * written before 0.4 carry it, so a replay of one of them still matches
 * (when this process collates as the one that wrote it did).
 */
function legacyRequestHash(body: CreateOrderBody): string {
  return fingerprint(body, ([pa], [pb]) => pa.localeCompare(pb));
}

type Line = readonly [productId: string, quantity: number];

function fingerprint(body: CreateOrderBody, order: (a: Line, b: Line) => number): string {
  const items = body.items.map((i): Line => [i.productId, i.quantity]).sort(order);
  const canonical = { customerId: body.customerId, paymentMethod: body.paymentMethod, items };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/**
 * How long a twin request waits for the first one's outcome: a start's deadline
 * (5 s) and its settling, the usual worst case. A slower first request (one that
 * also registers the search attributes) leaves the twin a 409 REQUEST_IN_PROGRESS,
 * which asks the client to try again.
 */
const TWIN_WAIT_MS = 10_000;

/**
 * How far back a twin whose insert met the key, and that then found no order
 * under it, looks for the refusal the first request left (it looks at once;
 * the margin is for clocks and a slow database, not for an older request).
 */
const REFUSAL_LOOKBACK_MS = 60_000;

/** How long a write of the start fence keeps trying when PostgreSQL fails it, before admitting the outcome is unknown. */
const FENCE_RETRY_DELAYS_MS = [100, 400, 1_000, 2_000];

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
      const existing = await beforeAnyWrite(findOrderIdentityByKey(this.pool, caller.name, idempotencyKey));
      if (existing) return this.replay(existing, hash, body);
    }
    const orderId = randomUUID();
    const startToken = randomUUID();

    const { items, amountCents } = await beforeAnyWrite(priceLines(this.pool, body.items));
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
      startToken,
    };

    const ref = { orderId, attempt: 1 };
    const inserted = await this.commitAttempt(ref, startToken, 'order', (db) => insertNewOrder(db, input, caller.name, startToken));
    if (!inserted) {
      // A twin request (same caller, same key) inserted first: answer from its row.
      // Only a key can conflict, so one was sent.
      const twin = await beforeAnyWrite(findOrderIdentityByKey(this.pool, caller.name, idempotencyKey!));
      // Withdrawn since: answer what the twin did.
      if (!twin) throw answerFor(await beforeAnyWrite(findStartRefusalByKey(this.pool, caller.name, idempotencyKey!, REFUSAL_LOOKBACK_MS)));
      return this.replay(twin, hash, body);
    }
    await this.startOrWithdraw(input, startToken, startRefused);
    return { orderId, status: 'PENDING', replayed: false };
  }

  async cancel(orderId: string, caller: Caller): Promise<{ orderId: string; status: OrderStatus }> {
    // PostgreSQL is read before the cancel is sent and after Temporal refused it, never after it was accepted.
    const order = await beforeAnyWrite(this.identityOr404(orderId, caller));
    // COMPENSATING is for the saga to judge: a repeat of a cancel being carried
    // out is accepted again, a cancel during the undoing of a failure is not.
    if (isTerminal(order.status)) throw notCancellable(order.status);
    // Its run may not exist yet (or may be a closed earlier attempt's): a cancel
    // now could reach nothing, so say "not yet" rather than "never".
    if (order.startState === 'STARTING') throw startInProgress(orderId);
    try {
      return await this.workflows.cancel(orderId);
    } catch (err) {
      if (err instanceof NotCancellableError || err instanceof WorkflowClosedError) {
        // The workflow's refusal is read against the row as it is now: the order
        // may have finished, or a retry may have moved it on, since the look above.
        const now = await beforeAnyWrite(this.identityOr404(orderId, caller));
        if (isTerminal(now.status)) throw notCancellable(now.status);
        if (now.startState === 'STARTING') throw startInProgress(orderId);
        if (err instanceof WorkflowClosedError) throw workflowClosed(now);
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
    const order = await beforeAnyWrite(this.identityOr404(orderId, caller));
    if (order.status !== 'FAILED' || order.failureReason !== 'PAYMENT_UNAVAILABLE') throw notRetryable(order);
    // The previous run writes FAILED just before it closes; let it close.
    await this.workflows.waitForClose(orderId, 5_000);
    const view = (await beforeAnyWrite(getOrder(this.pool, orderId)))!;
    const attempt = order.attempt + 1;
    const ref = { orderId, attempt };
    const startToken = randomUUID();
    const input = sagaInputFor(view, attempt, startToken, this.options.paymentBudgetMs);
    const moved = await this.commitAttempt(ref, startToken, 'retry', (db) => moveToNextAttempt(db, ref, startToken));
    // Not moved: the order was not (or no longer) retryable, and nothing was written.
    if (!moved) throw notRetryable((await beforeAnyWrite(findOrderIdentity(this.pool, orderId)))!);
    await this.startOrWithdraw(input, startToken, (err) =>
      err instanceof RunningAlreadyError
        ? new HttpError(409, 'RETRY_IN_PROGRESS', 'The previous run is still closing; retry in a moment.')
        : startRefused(err),
    );
    return { orderId, status: 'PENDING', attempt };
  }

  /**
   * Starts the run of an attempt whose row `startToken`'s request committed as
   * STARTING, and settles it before answering: either a run holds the attempt
   * (the one just started, or the open run of this attempt that the start met)
   * and the client hears 202, or the attempt is withdrawn and the client hears
   * `refusal`. PostgreSQL orders the withdrawal against the run's own claim, so
   * it is never both and never neither; a write whose reply is lost is read
   * back, not guessed (store/orders.ts). If PostgreSQL cannot settle it for several
   * seconds, the answer is 500 OUTCOME_UNKNOWN naming the order.
   */
  private async startOrWithdraw(input: OrderInput, startToken: string, refusal: (err: unknown) => HttpError): Promise<void> {
    const ref = { orderId: input.orderId, attempt: input.attempt };
    let outcome: StartOutcome | undefined;
    let failure: unknown;
    try {
      outcome = await this.workflows.start(input);
    } catch (err) {
      failure = err;
    }
    if (outcome?.kind === 'STARTED') {
      // Claimed for that run, which then acts, and no other run can: 202.
      if ((await this.settle(ref, () => confirmStart(this.pool, ref, outcome.runId, startToken))) === 'CLAIMED') return;
      // The sweep took the attempt back while the start took far too long: the run will find nothing.
      throw await this.withdrawn(input, refusal(new TemporalUnavailableError('the start took too long and the order was withdrawn')));
    }
    // An open run met instead: an earlier try of this very start that landed (it
    // carries this request's token and claims the row itself), or a run of an
    // earlier request of the same attempt number, which may already have been
    // refused its claim. Never claimed on its behalf: whichever it is, the
    // withdrawal below settles it against the run's own claim.
    if (outcome) failure = new RunningAlreadyError();
    const answer = refusal(failure);
    if ((await this.withdrawOrUnknown(ref, startToken, answer)) === 'WITHDRAWN') throw await this.withdrawn(input, answer);
    // A run claimed the attempt before the withdrawal: it goes ahead, and the client hears 202.
  }

  /**
   * The write that commits an attempt as STARTING (an order's insert, a retry's
   * move), before anything is asked of Temporal. When it fails, what the client
   * hears depends on what may have reached PostgreSQL: nothing at all (no
   * connection could be had), or a statement that may have committed before its
   * reply was lost, which is then taken back. If PostgreSQL stays away even for
   * that, the attempt may be recorded but no run was started for it, and the
   * sweep of unconfirmed starts withdraws it: it will not go ahead, and the
   * answer names no order, since there may be none.
   */
  private async commitAttempt<T>(
    ref: { orderId: string; attempt: number },
    startToken: string,
    what: 'order' | 'retry',
    write: (db: PoolClient) => Promise<T>,
  ): Promise<T> {
    try {
      return await onConnection(this.pool, write);
    } catch (err) {
      if (err instanceof DatabaseNotReachedError) throw nothingChanged();
      // No run carries this request's token, so a withdrawal cannot find the attempt claimed.
      // The refusal is recorded with the withdrawal, for a twin request waiting on this one.
      if ((await this.retryFenceWrite(() => withdrawStart(this.pool, ref, startToken, refusalOf(nothingChanged())))) === 'WITHDRAWN') {
        throw nothingChanged();
      }
      throw notStarted(what);
    }
  }

  /**
   * Withdraws the attempt, leaving `answer` for a twin request that waits for
   * this one (recorded with the withdrawal itself, for a first attempt with an
   * Idempotency-Key: store/orders.ts).
   */
  private withdrawOrUnknown(ref: { orderId: string; attempt: number }, startToken: string, answer: HttpError): Promise<StartSettlement> {
    return this.settle(ref, () => withdrawStart(this.pool, ref, startToken, refusalOf(answer)));
  }

  /**
   * The answer for a request whose attempt is withdrawn: the refusal recorded
   * with the withdrawal, which is what a twin request hears too. It is this
   * request's own `answer` unless the sweep withdrew the attempt first (a start
   * that took far too long). Nothing recorded (no Idempotency-Key, a retry's
   * attempt, the record unreadable): its own.
   */
  private async withdrawn(input: OrderInput, answer: HttpError): Promise<HttpError> {
    if (input.attempt !== 1 || input.idempotencyKey === null) return answer;
    const recorded = await findStartRefusal(this.pool, input.orderId).catch(() => null);
    return recorded ? answerFor(recorded) : answer;
  }

  /**
   * A write of the start fence once a start was asked of Temporal, retried through
   * a short PostgreSQL hiccup; 500 OUTCOME_UNKNOWN if it stays down: a run may exist.
   */
  private async settle(ref: { orderId: string; attempt: number }, write: () => Promise<StartSettlement>): Promise<StartSettlement> {
    const settled = await this.retryFenceWrite(write);
    if (settled !== undefined) return settled;
    // The run may or may not hold the attempt; if none does, the sweep of
    // unconfirmed starts withdraws it within a minute. The client can look it up.
    throw new HttpError(
      500,
      'OUTCOME_UNKNOWN',
      'The order could not be confirmed or withdrawn. It may still go ahead: look it up before placing it again.',
      { orderId: ref.orderId, attempt: ref.attempt },
    );
  }

  /** `write`, retried through a short PostgreSQL hiccup; undefined if it kept failing. */
  private async retryFenceWrite(write: () => Promise<StartSettlement>): Promise<StartSettlement | undefined> {
    for (const delayMs of [...FENCE_RETRY_DELAYS_MS, undefined]) {
      try {
        return await write();
      } catch {
        if (delayMs === undefined) break;
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
    return undefined;
  }

  /**
   * An earlier request with the same key: the same order if the body matches.
   * While that request is still starting the order, its outcome is not known
   * yet; this waits for it (the start answers within its deadline) rather than
   * say "accepted" for an order that may still be withdrawn.
   */
  private async replay(existing: OrderIdentity, hash: string, body: CreateOrderBody): Promise<PlacedOrder> {
    if (existing.requestHash !== hash && existing.requestHash !== legacyRequestHash(body)) {
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
      // The first request withdrew it a moment ago, and no order exists: answer what it answered.
      if (!current) throw answerFor(await beforeAnyWrite(findStartRefusal(this.pool, existing.orderId)));
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
 * The saga's input for a retry's attempt of an order already recorded:
 * everything comes from its row, and `startToken` is the retry request's. The
 * Idempotency-Key and request hash stay with the row; only the first start's
 * input carries them.
 */
export function sagaInputFor(order: OrderView, attempt: number, startToken: string, paymentBudgetMs: number): OrderInput {
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
    startToken,
  };
}

/** A start that met an open run of another attempt (the previous one, still closing). */
class RunningAlreadyError extends Error {}

/** The answer once a start's attempt is withdrawn: nothing happened, and why. */
function startRefused(err: unknown): HttpError {
  // An open run met instead of a start of our own is as unknown an outcome as a timeout.
  if (err instanceof TemporalUnavailableError || err instanceof RunningAlreadyError) return answerFor(null);
  // Not transient (an expired key, a missing namespace, a codec error): the
  // operator must fix the cause, and the message says which.
  return answerFor({ code: 'TEMPORAL_START_REFUSED', cause: startFailureCause(err) });
}

/**
 * `read`, made before this request wrote anything: PostgreSQL being away then
 * means this request changed nothing, and the answer says so.
 */
function beforeAnyWrite<T>(read: Promise<T>): Promise<T> {
  return read.catch((err: unknown) => {
    throw isDatabaseUnavailable(err) ? nothingChanged() : err;
  });
}

/** PostgreSQL was away, and this request is known to have changed nothing: never sent, refused, or taken back. */
function nothingChanged(): HttpError {
  // Not the driver's message: it may name hosts, roles or constraints.
  return databaseUnavailable('The database is unavailable; nothing was changed. Retry after the Retry-After delay.');
}

/** The attempt's write may have committed and could not be taken back; no run was started for it. */
function notStarted(what: 'order' | 'retry'): HttpError {
  return databaseUnavailable(
    what === 'order'
      ? 'The database became unreachable while the order was being recorded, so whether it was is not known. ' +
          'Its saga was not started: it will not go ahead and nothing will be charged. A record left behind is withdrawn ' +
          'within a minute. Retry later; with the same Idempotency-Key the answer may be 409 REQUEST_IN_PROGRESS until then.'
      : 'The database became unreachable while the retry was being recorded, so whether it was is not known. ' +
          'The new attempt was not started and will not run; until it is withdrawn, within a minute, the order may show ' +
          'PENDING, and then it is FAILED as before. Retry later.',
  );
}

/** What a withdrawal records (store/orders.ts start_refusals), so a twin request can answer the same. */
function refusalOf(answer: HttpError): StartRefusal {
  const cause = (answer.details as { cause?: unknown } | undefined)?.cause;
  return { code: answer.code, cause: typeof cause === 'string' ? cause : null };
}

/**
 * The 503 for a withdrawn attempt, built alike for the request that withdrew it
 * and for its twin, from what was recorded. Nothing recorded: no order exists
 * and none will run, which is all that is known.
 */
function answerFor(refusal: StartRefusal | null): HttpError {
  switch (refusal?.code) {
    case 'TEMPORAL_START_REFUSED':
      return new HttpError(
        503,
        'TEMPORAL_START_REFUSED',
        `The workflow service refused to start the order (${refusal.cause}); nothing was changed.`,
        { cause: refusal.cause },
      );
    case 'DATABASE_UNAVAILABLE':
      return nothingChanged();
    default:
      return new HttpError(503, 'TEMPORAL_UNAVAILABLE', 'The workflow service is unavailable; nothing was changed. Retry later.');
  }
}

function workflowClosed(order: OrderIdentity): HttpError {
  return new HttpError(
    409,
    'WORKFLOW_CLOSED',
    `The order is ${order.status} but its workflow has ended without finishing it (terminated?), so nothing can carry a cancel out; an operator must resolve it (docs/operations.md).`,
    { status: order.status },
  );
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
