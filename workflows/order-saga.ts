import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  condition,
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
  databaseStep,
  inventoryStep,
  legacyPaymentStep,
  notificationFirstTry,
  notificationStep,
  paymentStep,
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

const db = proxyLocalActivities<OrderRecordActivities>(databaseStep);
const inventory = proxyActivities<InventoryStepActivities>(inventoryStep);
const payment = proxyActivities<PaymentStepActivities>(paymentStep);
const compensation = proxyLocalActivities<CompensationActivities>(compensationStep);
const notifications = proxyActivities<NotificationStepActivities>(notificationStep);
const localNotifications = proxyLocalActivities<NotificationStepActivities>(notificationFirstTry);

/**
 * Changes to the saga's commands, behind `patched()` so that runs started by an
 * earlier version replay and finish as they began (docs/saga.md, "Changing the
 * saga"). The ids are permanent. One patch per release, checked once at the
 * start: the SDK records every patch in the TemporalChangeVersion search
 * attribute, and each such upsert is a visibility write and a billed action.
 */
export const SAGA_PATCHES = {
  /**
   * 0.2.0: the first step claims the row the API committed instead of writing it
   * (the start fence); the saga retries the provider's failures itself and counts
   * only their time against the payment budget; a cancel is answered once
   * PostgreSQL has recorded it.
   */
  v0_2: 'saga-0.2.0',
  /**
   * 0.3.0: fewer commands per order, each of them a billed action on Temporal
   * Cloud and a write on the server (docs/benchmarks.md, "Actions per order").
   * The reserve activity claims the row itself; the completion and the
   * confirmation run as local activities in one workflow task; OrderStatus is
   * upserted only for the statuses an operator filters on (OPERATOR_STATUSES).
   */
  v0_3: 'saga-0.3.0',
} as const;

/**
 * The OrderStatus values mirrored into the search attribute from 0.3.0 on: where
 * an order ended, and COMPENSATING (an undo that is taking long is what an
 * operator looks for). RESERVED and PAID last a provider call each; they are in
 * PostgreSQL, the status query and the Web UI's current details, and mirroring
 * them cost an upsert apiece on every order.
 */
const OPERATOR_STATUSES: ReadonlySet<OrderStatus> = new Set(['COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED']);

/** Which release's commands this run issues: 1 (0.1.x), 2 (0.2.x) or 3 (0.3.x). Read once per run. */
function sagaVersion(input: OrderInput): 1 | 2 | 3 {
  // Orders from an API without the start fence keep the 0.1 behaviour throughout.
  if (input.fenced !== true) return 1;
  // Newest first: a new run records only the newest marker (and one
  // TemporalChangeVersion upsert); a replayed 0.2 run finds no 0.3 marker.
  if (patched(SAGA_PATCHES.v0_3)) return 3;
  return patched(SAGA_PATCHES.v0_2) ? 2 : 1;
}

/**
 * One order, start to finish: reserve stock, charge the card, complete, then
 * confirm by notification. A failed step or a customer's cancel undoes the steps
 * already taken, newest first. Every status change is written to PostgreSQL by
 * the activity that causes it; the OrderStatus search attribute mirrors the
 * statuses an operator filters on (OPERATOR_STATUSES, from 0.3.0).
 */
export async function orderSaga(input: OrderInput): Promise<OrderState> {
  const ref: OrderRef = { orderId: input.orderId, attempt: input.attempt };
  const state: OrderState = {
    orderId: input.orderId,
    attempt: input.attempt,
    status: 'PENDING',
    failureReason: null,
    cancelRequested: false,
  };
  const version = sagaVersion(input);
  const v0_2 = version >= 2;
  const lean = version >= 3;
  const setStatus = (status: OrderStatus): void => {
    state.status = status;
    if (!lean || OPERATOR_STATUSES.has(status)) upsertSearchAttributes([{ key: OrderStatusKey, value: status }]);
    // The Web UI shows this on the workflow's page; it is not part of the history.
    setCurrentDetails(`**${status}**${state.cancelRequested ? ' · cancel requested' : ''}`);
  };

  // Everything up to the decision to complete runs in this scope; a cancel
  // cancels it, which interrupts whichever step is running.
  const forwardSteps = new CancellationScope();

  /**
   * What the database said when the saga decided to compensate: COMPENSATING (a
   * cancel accepted earlier will decide the outcome) or a final status that an
   * earlier try of the same workflow task had already written (the cancel came
   * too late). Undefined until then.
   */
  let verdict: RecordedStatus | undefined;
  /**
   * What the compensation under way will end as, once the saga has decided to
   * compensate: its own reading of the failure, or the reading the database
   * holds if another try of this workflow task decided first (see markCompensating).
   */
  let compensatingFor: FailureReason | undefined;
  const endsCancelled = () => compensatingFor === 'CANCELLED_BY_CUSTOMER';

  setHandler(orderStateQuery, () => ({ ...state }));
  setHandler(
    cancelOrderUpdate,
    async () => {
      const acceptedIn = state.status;
      state.cancelRequested = true;
      forwardSteps.cancel();
      if (!v0_2) return { orderId: state.orderId, status: acceptedIn };
      // Answer only once PostgreSQL agrees: local activities take effect before
      // their workflow task completes, so a task that was lost and retried may
      // meet this cancel with the order already finished in the database.
      // Not interrupted by an operator's workflow cancel: every path that ends
      // the run sets the verdict first, and that cancel is undone the same way.
      await CancellationScope.nonCancellable(() => condition(() => verdict !== undefined));
      // CANCELLED in the database is this cancel's own doing, recorded by an
      // earlier try of the task that is handling it again: it was carried out.
      // COMPENSATING is a yes only if the compensation ends CANCELLED: another
      // try of this task may have begun it for the failure it saw without this
      // cancel, and the database kept that reading.
      const carriedOut = verdict!.status === 'CANCELLED' || (verdict!.status === 'COMPENSATING' && endsCancelled());
      if (!carriedOut) {
        throw ApplicationFailure.nonRetryable(`Order is already ${verdict!.status}`, ErrorType.NotCancellable);
      }
      return { orderId: state.orderId, status: acceptedIn };
    },
    {
      // Accepted only while the saga can still act on it: once it is undoing a
      // failure, a cancel would change nothing, so saying 202 would be untrue.
      // While the undoing is for a cancel (a customer's, or an operator's
      // workflow cancel) the order will end CANCELLED, so a cancel is accepted
      // again (the client may have timed out waiting for the first answer).
      validator: () => {
        if (isTerminal(state.status) || (state.status === 'COMPENSATING' && !endsCancelled())) {
          throw ApplicationFailure.nonRetryable(`Order is already ${state.status}`, ErrorType.NotCancellable);
        }
      },
    },
  );

  /**
   * Ends a run whose order the API withdrew (it answered 503 because the start
   * looked failed), or that another run of the attempt holds: nothing may happen.
   */
  const abandon = (): OrderState => {
    state.abandoned = true;
    verdict = { status: 'PENDING', failureReason: null };
    upsertSearchAttributes([{ key: OrderStatusKey, value: 'ABANDONED' }]);
    return { ...state };
  };
  const runId = workflowInfo().firstExecutionRunId;
  // The database writes outside the forward steps are not interrupted by an
  // operator's workflow cancel: each must finish once it may have taken effect.
  const claim = () => CancellationScope.nonCancellable(() => db.claimOrder(ref, runId));
  // From 0.3 the reserve step claims the row; true once it has answered.
  let claimConfirmed = false;
  if (version === 2) {
    if (!(await claim())) return abandon();
  } else if (version === 1) {
    await db.recordOrder(input);
  }

  // Compensations are pushed before the step they undo runs: the step may take
  // effect even when its reply never reaches us.
  const compensations: Array<() => Promise<void>> = [];
  let legacyPayment = false;
  try {
    await forwardSteps.run(async () => {
      compensations.unshift(() => compensation.releaseInventory(ref));
      if (lean) {
        // Claims the row for this run before it reserves, in one activity task.
        // A new activity name, not reserveInventory with one more argument: a
        // worker of an earlier release would run that without claiming.
        if ((await inventory.claimAndReserve(ref, runId)) !== 'RESERVED') return;
        claimConfirmed = true;
      } else {
        await inventory.reserveInventory(ref);
      }
      setStatus('RESERVED');

      compensations.unshift(() => compensation.refundPayment(ref));
      if (v0_2) {
        await chargeWithinBudget(ref, input.paymentBudgetMs, () => state.cancelRequested);
      } else {
        legacyPayment = true;
        await proxyActivities<PaymentStepActivities>(legacyPaymentStep(input.paymentBudgetMs)).chargePayment(ref);
      }
      setStatus('PAID');
    });
    if (lean && !claimConfirmed) return abandon();
    // A cancel handled in the same activation as the last step's result finds
    // no running step to interrupt; it still wins, because it was accepted. So
    // does an operator's workflow cancel that reached a step too short to
    // heartbeat (from 0.3; earlier runs completed such orders).
    if (state.cancelRequested || (lean && forwardSteps.consideredCancelled)) {
      throw new CancelledFailure('Cancelled as the payment step finished');
    }
  } catch (err) {
    if (lean && !claimConfirmed) {
      // The step failed or was cancelled before the reserve step answered, so
      // whether it claimed the row is unknown. Claim now (again, for the same
      // run, succeeds): refused means this run never held the order, so it
      // reserved and charged nothing and must not touch it.
      if (!(await claim())) return abandon();
    }
    // Named after the claim above: a cancel accepted while it ran still wins.
    compensatingFor = failureReasonOf(err, state.cancelRequested, legacyPayment);
    // From here the cancel validator refuses new cancels (there is nothing left to
    // cancel); it still accepts a repeat of the cancel that is being carried out.
    setStatus('COMPENSATING');
    if (lean && state.cancelRequested) {
      // A customer's cancel is an Update, recorded in the history only when the
      // workflow task that accepted it completes; local activities take effect
      // before that. Had markCompensating run in that task and the task been lost
      // (its worker killed), the retried task would know of no cancel while
      // PostgreSQL said COMPENSATING. This timer ends the task first, so the
      // cancel is durable before anything acts on it (from 0.3; one timer on
      // cancelled orders only).
      await CancellationScope.nonCancellable(() => sleep(1));
    }
    const recorded = await CancellationScope.nonCancellable(() => db.markCompensating(ref, compensatingFor ?? null));
    // Runs recorded before markCompensating answered have no answer here.
    verdict = recorded ?? { status: 'COMPENSATING', failureReason: null };
    // The first markCompensating to commit decides how the order ends; a try of
    // this task on another worker (one that lost Temporal but not PostgreSQL)
    // may have been first, and this run then ends the way it recorded.
    if (verdict.status === 'COMPENSATING' && verdict.failureReason !== null) compensatingFor = verdict.failureReason;
    if (verdict.status === 'COMPLETED') {
      // An earlier try of this task completed the order and lost its record; the
      // database is right, and a pending cancel was answered 409 (see `verdict`).
      setStatus('COMPLETED');
      return finishCompleted();
    }
    if (isTerminal(verdict.status)) {
      state.failureReason = verdict.failureReason;
      setStatus(verdict.status);
      return { ...state };
    }
    await CancellationScope.nonCancellable(async () => {
      for (const undo of compensations) await undo();
    });
    const reason = compensatingFor;
    if (reason === undefined) {
      // A failure this saga does not know how to name. Stock and money are back
      // (compensation ran above); which final status is right is for a person
      // to decide, so this fails the workflow *task*, not the workflow: Temporal
      // retries the task until a worker with a fix is deployed, which replays to
      // here and finishes the order. The short timer first ends the current task,
      // so the compensations' results are in history and are not run again on
      // every retry of the failing task. Covered by "an unknown failure
      // compensates, then waits for a fix" in test/workflow/order-saga.test.ts.
      await CancellationScope.nonCancellable(() => sleep(1));
      throw new Error(`Order ${input.orderId}: unexpected failure of a forward step: ${String(err)}`);
    }
    const final: OrderStatus = reason === 'CANCELLED_BY_CUSTOMER' ? 'CANCELLED' : 'FAILED';
    await CancellationScope.nonCancellable(() => db.finishOrder(ref, final, reason));
    state.failureReason = reason;
    setStatus(final);
    return { ...state };
  }

  // Stock and money are both in hand: the order is complete from here on, and
  // the cancel validator rejects cancels from this line, before the write.
  // An operator's workflow cancel from here on does not undo the order: the goods
  // are the customer's and the money ours, as with a customer's late cancel.
  setStatus('COMPLETED');
  await CancellationScope.nonCancellable(() => db.completeOrder(ref));
  return finishCompleted();

  /** Confirms a completed order by notification; its failure never undoes the order. */
  async function finishCompleted(): Promise<OrderState> {
    // From 0.3 an operator's workflow cancel does not stop the confirmation of a
    // completed order either: the customer has paid and is told so.
    if (lean) return CancellationScope.nonCancellable(confirm);
    return confirm();
  }

  async function confirm(): Promise<OrderState> {
    try {
      if (lean) {
        // From 0.3 first tried in the same workflow task as completeOrder.
        const sent = await localNotifications.sendNotification(ref, 'order_confirmed').then(
          () => true,
          (err: unknown) => {
            log.warn('order_confirmed notification: first try failed, retrying as an activity', { error: String(err) });
            return false;
          },
        );
        if (sent) return { ...state };
      }
      await notifications.sendNotification(ref, 'order_confirmed');
    } catch (err) {
      // The customer has the goods and we have the money: a lost e-mail is not a
      // reason to refund. The failure stays visible in this workflow's history.
      log.error('order_confirmed notification gave up', { orderId: input.orderId, error: String(err) });
    }
    return { ...state };
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
 * customer was told 202. Undefined for a failure the saga does not recognise.
 */
function failureReasonOf(err: unknown, cancelRequested: boolean, legacyPayment: boolean): FailureReason | undefined {
  // A cancellation that is not the customer's is an operator cancelling the
  // workflow (Web UI, `temporal workflow cancel`): it is undone the same way.
  if (cancelRequested || isCancellation(err)) return 'CANCELLED_BY_CUSTOMER';
  if (err instanceof ApplicationFailure && err.type === ErrorType.PaymentBudgetExhausted) return 'PAYMENT_UNAVAILABLE';
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === ErrorType.OutOfStock) return 'OUT_OF_STOCK';
    if (cause instanceof ApplicationFailure && cause.type === ErrorType.PaymentDeclined) return 'PAYMENT_DECLINED';
    // Runs from before 0.2.0: the activity's own budget ran out.
    if (legacyPayment) return 'PAYMENT_UNAVAILABLE';
  }
  return undefined;
}
