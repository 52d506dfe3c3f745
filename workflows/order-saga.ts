import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OrderActivities } from '../activities';
import { compensationStep, databaseStep, inventoryStep, notificationStep, paymentStep } from './activity-options';
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
} from './types';

const db = proxyLocalActivities<OrderActivities>(databaseStep);
const inventory = proxyActivities<OrderActivities>(inventoryStep);
const compensation = proxyLocalActivities<OrderActivities>(compensationStep);
const notifications = proxyActivities<OrderActivities>(notificationStep);

/**
 * One order, start to finish: reserve stock, charge the card, complete, then
 * confirm by notification. A failed step or a customer's cancel undoes the steps
 * already taken, newest first. Every status change is written to PostgreSQL by
 * the activity that causes it and mirrored in the OrderStatus search attribute.
 */
export async function orderSaga(input: OrderInput): Promise<OrderState> {
  const ref: OrderRef = { orderId: input.orderId, attempt: input.attempt };
  const payment = proxyActivities<OrderActivities>(paymentStep(input.paymentBudgetMs));
  const state: OrderState = {
    orderId: input.orderId,
    attempt: input.attempt,
    status: 'PENDING',
    failureReason: null,
    cancelRequested: false,
  };
  const setStatus = (status: OrderStatus): void => {
    state.status = status;
    upsertSearchAttributes([{ key: OrderStatusKey, value: status }]);
  };

  // Everything up to the decision to complete runs in this scope; a cancel
  // cancels it, which interrupts whichever step is running.
  const forwardSteps = new CancellationScope();

  setHandler(orderStateQuery, () => ({ ...state }));
  setHandler(
    cancelOrderUpdate,
    () => {
      state.cancelRequested = true;
      forwardSteps.cancel();
      return { orderId: state.orderId, status: state.status };
    },
    {
      validator: () => {
        if (isTerminal(state.status)) {
          throw ApplicationFailure.nonRetryable(`Order is already ${state.status}`, ErrorType.NotCancellable);
        }
      },
    },
  );

  // Idempotent: the API usually wrote the row already; this covers an API that
  // crashed after starting the workflow but before its own insert committed.
  await db.recordOrder(input);

  // Compensations are pushed before the step they undo runs: the step may take
  // effect even when its reply never reaches us.
  const compensations: Array<() => Promise<void>> = [];
  let failedStep: 'inventory' | 'payment' = 'inventory';
  try {
    await forwardSteps.run(async () => {
      compensations.unshift(() => compensation.releaseInventory(ref));
      await inventory.reserveInventory(ref);
      setStatus('RESERVED');

      failedStep = 'payment';
      compensations.unshift(() => compensation.refundPayment(ref));
      await payment.chargePayment(ref);
      setStatus('PAID');
    });
    // A cancel handled in the same activation as the last step's result finds
    // no running step to interrupt; it still wins, because it was accepted.
    if (state.cancelRequested) throw new CancelledFailure('Cancelled as the payment step finished');
  } catch (err) {
    const reason = failureReasonOf(err, failedStep, state.cancelRequested);
    await CancellationScope.nonCancellable(async () => {
      setStatus('COMPENSATING');
      await db.markCompensating(ref);
      for (const undo of compensations) await undo();
      const final: OrderStatus = reason === 'CANCELLED_BY_CUSTOMER' ? 'CANCELLED' : 'FAILED';
      await db.finishOrder(ref, final, reason);
      state.failureReason = reason;
      setStatus(final);
    });
    return { ...state };
  }

  // Stock and money are both in hand: the order is complete from here on, and
  // the cancel validator rejects cancels from this line, before the write.
  setStatus('COMPLETED');
  await db.completeOrder(ref);

  try {
    await notifications.sendNotification(ref, 'order_confirmed');
  } catch (err) {
    // The customer has the goods and we have the money: a lost e-mail is not a
    // reason to refund. The failure stays visible in this workflow's history.
    log.error('order_confirmed notification gave up', { orderId: input.orderId, error: String(err) });
  }
  return { ...state };
}

/**
 * Maps how the forward steps ended to the order's failureReason. Anything we do
 * not recognise is rethrown as a plain Error, which fails the workflow task
 * (not the workflow): Temporal retries it until a fixed worker is deployed,
 * instead of ending the order in a state nobody chose.
 */
function failureReasonOf(err: unknown, step: 'inventory' | 'payment', cancelRequested: boolean): FailureReason {
  if (cancelRequested && isCancellation(err)) return 'CANCELLED_BY_CUSTOMER';
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === ErrorType.OutOfStock) return 'OUT_OF_STOCK';
    if (cause instanceof ApplicationFailure && cause.type === ErrorType.PaymentDeclined) return 'PAYMENT_DECLINED';
    // The payment step's budget ran out while the provider kept failing.
    if (step === 'payment') return 'PAYMENT_UNAVAILABLE';
  }
  throw new Error(`Unexpected failure in the ${step} step: ${String(err)}`);
}
