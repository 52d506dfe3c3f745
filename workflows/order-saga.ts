import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  CompensationActivities,
  InventoryStepActivities,
  NotificationStepActivities,
  OrderRecordActivities,
  PaymentStepActivities,
} from '../activities';
import {
  PAYMENT_BACKOFF,
  compensationStep,
  completionStep,
  inventoryStep,
  notificationFirstTry,
  notificationStep,
  paymentStep,
  statusWriteStep,
} from './activity-options';
import { cancelOrderUpdate, orderStateQuery } from './definitions';
import { OrderStatusKey } from './search-attributes';
import {
  ErrorType,
  isTerminal,
  type FailureReason,
  type OrderInput,
  type OrderRef,
  type OrderState,
  type OrderStatus,
  type ProviderFailureDetails,
  type RecordedStatus,
} from './types';

const inventory = proxyActivities<InventoryStepActivities>(inventoryStep);
const payment = proxyActivities<PaymentStepActivities>(paymentStep);
const notifications = proxyActivities<NotificationStepActivities>(notificationStep);
const statusWrites = proxyActivities<Pick<OrderRecordActivities, 'claimOrder' | 'markCompensating' | 'finishOrder'>>(statusWriteStep);
const compensation = proxyActivities<CompensationActivities>(compensationStep);
// The only local activities: both run once the order is COMPLETED (see "Local activities and Updates" below).
const completion = proxyLocalActivities<Pick<OrderRecordActivities, 'completeOrder'>>(completionStep);
const firstNotification = proxyLocalActivities<NotificationStepActivities>(notificationFirstTry);

/**
 * The OrderStatus values mirrored into the search attribute: where an order
 * ended, and COMPENSATING (an undo that takes long is what an operator looks
 * for). PENDING is set at the start, for free. RESERVED and PAID last one
 * provider call each; they are in PostgreSQL, the status query and the Web UI's
 * current details, and mirroring them would cost an upsert (a billed action) each.
 */
const OPERATOR_STATUSES: ReadonlySet<OrderStatus> = new Set(['COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * One order, start to finish: reserve stock, charge the card, complete, then
 * confirm by notification; a failed step or a cancel undoes the steps already
 * taken, newest first. Each status change is written to PostgreSQL by the
 * activity that causes it. Read `OrderSaga.run` first: it is the whole story.
 *
 * A run is PINNED (worker/options.ts): it finishes on the build that started
 * it, so this code never replays a history written by other code and holds one
 * behaviour only. (Declared on the worker, not here with setWorkflowOptions:
 * the tests' unversioned workers would refuse a workflow that declares it.)
 *
 * Local activities and Updates. A local activity runs only where the cancel
 * validator refuses every Update: once the order is COMPLETED (completeOrder and
 * the confirmation's first try). A local activity that outlives a workflow task
 * keeps it open with task heartbeats, and on replay the SDK hands the workflow
 * its result as early as the history allows, which can be before an Update that
 * was accepted while it ran: the workflow then issues its commands in another
 * order than it did live, and every later task of the run fails with a
 * nondeterminism error. Saga 0.4 left orders COMPENSATING that way (a refund
 * backing off during an outage, a repeated cancel);
 * test/replay/local-activity-update.test.ts reproduces it with a workflow of a
 * few lines. Regular activities add no such ordering: their results are events.
 */
export async function orderSaga(input: OrderInput): Promise<OrderState> {
  return new OrderSaga(input).run();
}

class OrderSaga {
  private readonly ref: OrderRef;
  private readonly state: OrderState;
  /** The run's first run id: the claimant PostgreSQL records for this attempt. */
  private readonly runId = workflowInfo().firstExecutionRunId;
  /** Reserve and charge run in this scope; a cancel cancels it, which interrupts the running step. */
  private readonly forwardSteps = new CancellationScope();
  /** Undo steps, newest first; each is pushed before its step runs, since a step may take effect although its reply is lost. */
  private readonly compensations: Array<() => Promise<void>> = [];
  /** True once the reserve step answered: this run holds the order's row. */
  private claimed = false;
  /** How the compensation under way will end: the saga's reading of the failure, or the one PostgreSQL already holds. */
  private compensatingFor: FailureReason | undefined;
  /**
   * Where PostgreSQL says the order stands once the saga decided to compensate
   * (or abandoned the run). A cancel is answered only then: see cancel().
   */
  private verdict: RecordedStatus | undefined;

  constructor(private readonly input: OrderInput) {
    this.ref = { orderId: input.orderId, attempt: input.attempt };
    this.state = { orderId: input.orderId, attempt: input.attempt, status: 'PENDING', failureReason: null, cancelRequested: false };
    setHandler(orderStateQuery, () => ({ ...this.state }));
    setHandler(cancelOrderUpdate, () => this.cancel(), { validator: () => this.validateCancel() });
  }

  async run(): Promise<OrderState> {
    try {
      await this.forwardSteps.run(async () => {
        if (!(await this.reserve())) return;
        await this.charge();
      });
      if (!this.claimed) return this.abandon();
      // A cancel handled in the same activation as the charge's result finds no
      // step left to interrupt; it still wins, because it was accepted. So does an
      // operator's workflow cancel that reached a step too short to heartbeat.
      if (this.state.cancelRequested || this.forwardSteps.consideredCancelled) {
        throw new CancelledFailure('Cancelled as the payment step finished');
      }
    } catch (err) {
      return this.compensate(err);
    }
    return this.complete();
  }

  /** Claims the order for this run and reserves its stock, in one activity. False: another run holds it, or the API withdrew it. */
  private async reserve(): Promise<boolean> {
    this.compensations.unshift(() => compensation.releaseInventory(this.ref));
    const outcome = await inventory.claimAndReserve(this.ref, this.runId, this.input.startToken ?? null);
    if (outcome === 'NOT_CLAIMED') return false;
    this.claimed = true;
    this.setStatus('RESERVED');
    return true;
  }

  private async charge(): Promise<void> {
    this.compensations.unshift(() => compensation.refundPayment(this.ref));
    await chargeWithinBudget(this.ref, this.input.paymentBudgetMs, () => this.state.cancelRequested);
    this.setStatus('PAID');
  }

  /**
   * Stock and money are in hand: the order is complete from here. The cancel
   * validator refuses from this line on, before the write; an operator's
   * workflow cancel does not undo it either (the goods are the customer's).
   */
  private async complete(): Promise<OrderState> {
    this.setStatus('COMPLETED');
    await CancellationScope.nonCancellable(() => completion.completeOrder(this.ref));
    return this.confirm();
  }

  /**
   * Confirms a completed order by notification, outside any cancellable scope:
   * the customer has paid and is told so. The first try runs in the workflow task
   * that completed the order; if it fails, an activity takes over with a day of
   * retries. Its failure never refunds: it stays visible in the history.
   */
  private async confirm(): Promise<OrderState> {
    await CancellationScope.nonCancellable(async () => {
      try {
        await firstNotification.sendNotification(this.ref, 'order_confirmed');
      } catch (err) {
        log.warn('order_confirmed notification: first try failed, retrying as an activity', { error: String(err) });
        await notifications.sendNotification(this.ref, 'order_confirmed').catch((finalErr: unknown) => {
          log.error('order_confirmed notification gave up', { orderId: this.ref.orderId, error: String(finalErr) });
        });
      }
    });
    return { ...this.state };
  }

  /** Undoes what the forward steps did, and ends the order FAILED or CANCELLED (or as PostgreSQL already has it). */
  private async compensate(err: unknown): Promise<OrderState> {
    // The reserve step failed or was cancelled before it answered, so whether it
    // claimed the order is unknown. A run that never held the order must not undo
    // anything (a release would leave a tombstone on another run's order).
    if (!this.claimed && !(await CancellationScope.nonCancellable(() => this.confirmClaim()))) return this.abandon();
    // Named after that claim: a cancel accepted while it ran still wins.
    this.compensatingFor = failureReasonOf(err, this.state.cancelRequested);
    this.setStatus('COMPENSATING');
    this.verdict = await CancellationScope.nonCancellable(() => statusWrites.markCompensating(this.ref, this.compensatingFor ?? null));
    const recorded = this.verdict;
    if (recorded.status === 'COMPLETED') {
      // The completing workflow task ran completeOrder, then was lost; the
      // database is right, and a cancel that met the retried task was refused.
      this.setStatus('COMPLETED');
      return this.confirm();
    }
    if (isTerminal(recorded.status)) {
      this.state.failureReason = recorded.failureReason;
      this.setStatus(recorded.status);
      return { ...this.state };
    }
    // The first markCompensating to commit decides how the order ends: another
    // try of this workflow task (a worker that lost Temporal but not PostgreSQL)
    // may have been first, and this run then ends the way it recorded.
    if (recorded.failureReason !== null) this.compensatingFor = recorded.failureReason;

    await CancellationScope.nonCancellable(async () => {
      for (const undo of this.compensations) await undo();
    });
    const reason = this.compensatingFor;
    if (reason === undefined) return this.waitForAFix(err);
    const final: OrderStatus = reason === 'CANCELLED_BY_CUSTOMER' ? 'CANCELLED' : 'FAILED';
    await CancellationScope.nonCancellable(() => statusWrites.finishOrder(this.ref, final, reason));
    this.state.failureReason = reason;
    this.setStatus(final);
    return { ...this.state };
  }

  /** The claim of a reserve step that did not answer, made again for this run (for the same run it succeeds again). */
  private confirmClaim(): Promise<boolean> {
    return statusWrites.claimOrder(this.ref, this.runId, this.input.startToken ?? null);
  }

  /**
   * A run that never held its order (the API withdrew it and answered 503, or
   * another run of the attempt holds it): nothing may happen.
   */
  private abandon(): OrderState {
    this.state.abandoned = true;
    this.verdict = { status: 'PENDING', failureReason: null };
    upsertSearchAttributes([{ key: OrderStatusKey, value: 'ABANDONED' }]);
    return { ...this.state };
  }

  /**
   * A failure this saga cannot name (a bug). Stock and money are back; which
   * final status is right is for a person to decide, so this fails the
   * workflow *task*, not the workflow: Temporal retries it until a build with a
   * fix runs it. The compensations' results are events in the history by now,
   * so a retry of the failing task does not run them again.
   */
  private waitForAFix(err: unknown): never {
    throw new Error(`Order ${this.ref.orderId}: unexpected failure of a forward step: ${String(err)}`);
  }

  /**
   * Accepted only while the saga can still act on it: once it is undoing a
   * failure, a cancel would change nothing, so 202 would be untrue. While the
   * undoing is for a cancel (a customer's, or an operator's workflow cancel) the
   * order will end CANCELLED, so a repeated cancel is accepted again.
   */
  private validateCancel(): void {
    const compensatingForCancel = this.state.status === 'COMPENSATING' && this.compensatingFor === 'CANCELLED_BY_CUSTOMER';
    if (isTerminal(this.state.status) || (this.state.status === 'COMPENSATING' && !compensatingForCancel)) {
      throw ApplicationFailure.nonRetryable(`Order is already ${this.state.status}`, ErrorType.NotCancellable);
    }
  }

  /**
   * The customer's cancel. It interrupts the forward steps and is answered only
   * once PostgreSQL agrees: completeOrder is a local activity, which takes effect
   * before its workflow task completes, so a task that was lost and retried may
   * meet this cancel with the order already COMPLETED in the database. Not
   * interrupted by an operator's workflow cancel: every path that ends the run
   * sets the verdict first.
   */
  private async cancel() {
    const acceptedIn = this.state.status;
    this.state.cancelRequested = true;
    this.forwardSteps.cancel();
    await CancellationScope.nonCancellable(() => condition(() => this.verdict !== undefined));
    const { status, failureReason } = this.verdict!;
    // CANCELLED is this cancel's own doing, recorded by an earlier try of the task handling it again.
    const carriedOut = status === 'CANCELLED' || (status === 'COMPENSATING' && this.compensatingFor === 'CANCELLED_BY_CUSTOMER');
    if (!carriedOut) {
      const why = failureReason ? ` (${failureReason})` : '';
      throw ApplicationFailure.nonRetryable(`Order is already ${status}${why}`, ErrorType.NotCancellable);
    }
    return { orderId: this.state.orderId, status: acceptedIn };
  }

  private setStatus(status: OrderStatus): void {
    this.state.status = status;
    if (OPERATOR_STATUSES.has(status)) upsertSearchAttributes([{ key: OrderStatusKey, value: status }]);
    // The Web UI shows this on the workflow's page; it is not part of the history.
    setCurrentDetails(`**${status}**${this.state.cancelRequested ? ' · cancel requested' : ''}`);
  }
}

/**
 * Charges the order, retrying the provider's failures with PAYMENT_BACKOFF until
 * the provider has been unavailable for `budgetMs`: the failed calls' durations
 * plus the waits between them. Time spent on our side (no worker polling, a
 * database error, a crashed attempt) is retried by the activity's own policy and
 * never reaches this count, so an outage of ours delays orders without failing them.
 */
async function chargeWithinBudget(ref: OrderRef, budgetMs: number, cancelled: () => boolean): Promise<void> {
  let unavailableMs = 0;
  let backoffMs: number = PAYMENT_BACKOFF.initialMs;
  for (;;) {
    try {
      await payment.chargePayment(ref);
      return;
    } catch (err) {
      const callMs = providerFailureCallMs(err);
      if (callMs === undefined || cancelled()) throw err;
      unavailableMs += callMs;
      if (unavailableMs + backoffMs > budgetMs) {
        throw ApplicationFailure.nonRetryable(
          `The payment provider was unavailable for ${Math.round(unavailableMs / 1000)} s of a ${Math.round(budgetMs / 1000)} s budget`,
          ErrorType.PaymentBudgetExhausted,
        );
      }
      await sleep(backoffMs);
      unavailableMs += backoffMs;
      backoffMs = Math.min(backoffMs * PAYMENT_BACKOFF.coefficient, PAYMENT_BACKOFF.maximumMs);
    }
  }
}

/** The failed call's duration when `err` is the provider's failure, else undefined. */
function providerFailureCallMs(err: unknown): number | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const cause = err.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== ErrorType.ProviderUnavailable) return undefined;
  const details = cause.details?.[0] as Partial<ProviderFailureDetails> | undefined;
  return typeof details?.callMs === 'number' ? details.callMs : 0;
}

/**
 * Names how the forward steps ended. An accepted cancel wins whatever ended the
 * interrupted step (it completed, failed, timed out or its worker died): the
 * customer was told 202. A cancellation that is not the customer's is an
 * operator cancelling the workflow (Web UI, `temporal workflow cancel`): it is
 * undone the same way. Undefined for a failure the saga does not recognise.
 */
function failureReasonOf(err: unknown, cancelRequested: boolean): FailureReason | undefined {
  if (cancelRequested || isCancellation(err)) return 'CANCELLED_BY_CUSTOMER';
  if (err instanceof ApplicationFailure && err.type === ErrorType.PaymentBudgetExhausted) return 'PAYMENT_UNAVAILABLE';
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    if (err.cause.type === ErrorType.OutOfStock) return 'OUT_OF_STOCK';
    if (err.cause.type === ErrorType.PaymentDeclined) return 'PAYMENT_DECLINED';
  }
  return undefined;
}
