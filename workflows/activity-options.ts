import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { ActivityCancellationType } from '@temporalio/workflow';
import { ErrorType } from './types';

/**
 * Timeouts and retry policies, one block per kind of step. docs/saga.md explains
 * each choice in a table; change both together.
 *
 * startToCloseTimeout bounds one attempt (a hung call is abandoned and retried);
 * heartbeatTimeout, where set, notices a dead worker sooner and bounds how long a
 * cancel takes to reach a running call (activities/heartbeats.ts heartbeats every
 * second; the SDK sends at most one heartbeat per 0.8 × this timeout).
 */

/**
 * Local activities retry inside the workflow task until their backoff reaches
 * this; longer backoffs become durable timers, so a long database outage does
 * not keep a workflow task open per order and survives a worker restart.
 */
const LOCAL_RETRY_THRESHOLD = '10 seconds';

/**
 * completeOrder: the completion written to our own database. It runs as a local
 * activity: a few milliseconds of SQL does not need its own task on the server,
 * and a local activity's result is recorded as a marker in the workflow task
 * that scheduled it. That removes an activity task and a workflow task from
 * every completed order, the largest share of the server's work per order
 * (docs/benchmarks.md has the figures). It waits out a database outage,
 * however long, rather than fail an order.
 *
 * Only the completed order's two steps are local activities (this one and
 * notificationFirstTry), because only there the saga accepts no Update: see
 * "Local activities and Updates" in order-saga.ts.
 */
export const completionStep: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * The saga's other writes to our own database: claimOrder (the claim of a run
 * whose reserve step did not answer), markCompensating (the decision to undo)
 * and finishOrder (FAILED or CANCELLED). Regular activities: a cancel can be
 * accepted while each of them runs. Their retries wait out an outage of our
 * database, however long, and add no event to the history while they do.
 */
export const statusWriteStep: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * Reserving stock. Out of stock is a business answer (non-retryable); anything
 * else is retried without limit, because inventory lives in our own database.
 * A cancel interrupts the call at its next heartbeat and the saga then waits for
 * the attempt to stop before it compensates.
 */
export const inventoryStep: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '3 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [ErrorType.OutOfStock],
  },
};

/**
 * Charging the card, one attempt per activity. Our own failures (database errors,
 * a worker that dies or stalls) are retried here without limit. The provider's
 * failures are not retried by the server: they end the activity with the call's
 * duration, and the saga retries them itself with PAYMENT_BACKOFF, counting only
 * the provider's time against the order's payment budget (see order-saga.ts).
 * A healthy call completes as long as it answers within the provider call
 * timeout (providers/simulated-payment-provider.ts: 20 s), which this
 * start-to-close leaves room for.
 */
export const paymentStep: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '3 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [
      ErrorType.PaymentDeclined,
      ErrorType.ProviderUnavailable,
      ErrorType.PaymentCanceled,
      ErrorType.OrderNotFound,
    ],
  },
};

/** The saga's backoff between charge attempts that the provider failed. */
export const PAYMENT_BACKOFF = { initialMs: 1_000, coefficient: 2, maximumMs: 30_000 } as const;

/**
 * Compensations must eventually succeed: no budget, no attempt limit. Regular
 * activities, like statusWriteStep: a repeated cancel is accepted while they
 * run, and a provider outage during a refund may last hours, retried by the
 * server without a workflow task or a history event per attempt. They heartbeat
 * (activities/heartbeats.ts heartbeatingAttempt), so an attempt whose worker
 * died is retried after seconds rather than at its start-to-close timeout.
 */
export const compensationStep: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '3 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * The confirmation e-mail: a day of retries, backing off to one try every ten
 * minutes. Its failure is logged and never undoes the order.
 */
const NOTIFICATION_RETRY = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' } as const;

/** The confirmation as an activity task of its own, with a day of retries. */
export const notificationStep: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: NOTIFICATION_RETRY,
};

/**
 * The confirmation's first try: one local activity attempt in the
 * workflow task that completes the order, so the happy path ends in that task
 * instead of taking an activity task and one more workflow task. Nothing
 * cancels it (the saga confirms a completed order outside any cancellable
 * scope), so it needs no heartbeat. If that try
 * fails, the saga hands the confirmation to notificationStep's day of retries:
 * a provider that is down for hours holds no workflow task open.
 */
export const notificationFirstTry: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
};
