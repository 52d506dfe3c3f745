import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { ActivityCancellationType } from '@temporalio/workflow';
import { ErrorType } from './types';

/**
 * Timeouts and retry policies, one block per kind of step. docs/saga.md explains
 * each choice in a table; change both together.
 *
 * startToCloseTimeout bounds one attempt (a hung call is abandoned and retried);
 * scheduleToCloseTimeout, where set, is the step's whole budget across retries.
 */

/**
 * Writes to our own database: wait out an outage, however long, rather than fail
 * an order. They run as local activities: a few milliseconds of SQL does not
 * need its own task on the server, and a local activity's result is recorded as
 * a marker in the workflow task that scheduled it. That removes an activity task
 * and a workflow task per step, the largest share of the server's work per order
 * (docs/benchmarks.md has the figures). Retries past a minute's backoff are
 * scheduled with a durable timer, so an outage survives a worker restart too.
 */
export const databaseStep: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * Reserving stock. Out of stock is a business answer (non-retryable); anything
 * else is retried without limit, because inventory lives in our own database.
 * A cancel interrupts the wait at the next heartbeat and the saga then waits for
 * the attempt to stop before it compensates.
 */
export const inventoryStep: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [ErrorType.OutOfStock],
  },
};

/**
 * Charging the card. A decline is final; provider errors are retried with
 * backoff until the order's payment budget runs out, which ends the order as
 * PAYMENT_UNAVAILABLE (POST /retry can run it again later).
 */
export function paymentStep(budgetMs: number): ActivityOptions {
  return {
    startToCloseTimeout: '10 seconds',
    heartbeatTimeout: '5 seconds',
    scheduleToCloseTimeout: budgetMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      nonRetryableErrorTypes: [ErrorType.PaymentDeclined],
    },
  };
}

/**
 * Compensations must eventually succeed: no budget, no attempt limit. They only
 * touch our database, so they run as local activities like databaseStep.
 */
export const compensationStep: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * The confirmation e-mail: a day of retries, backing off to one try every ten
 * minutes. Its failure is logged and never undoes the order.
 */
export const notificationStep: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
};
