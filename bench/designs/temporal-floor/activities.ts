import { appendFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { OrderActivities } from '../../../activities';
import { providerCall } from '../../../activities/heartbeats';
import { paymentIdempotencyKey } from '../../../providers/payment-provider';
import { chargeLatencyMs } from '../../../providers/simulated-payment-provider';
import { abortableDelay, callService, type SimulatedServices } from '../../../providers/simulated-services';
import { ErrorType, type FailureReason, type OrderRef, type OrderStatus, type RecordedStatus, type ReserveOutcome } from '../../../workflows/types';

/** The activities the saga schedules: every one the floor must answer. */
type SagaActivities = Omit<OrderActivities, 'reserveInventory' | 'recordOrder'>;

/**
 * The saga's activities with nothing of ours in them: no database, no log line.
 * Each waits the simulated service's latency (providers/simulated-services.ts,
 * the same settings as the real activities) and gives the answer the real one
 * gives when all is well, so the workflow takes exactly the path, and makes
 * exactly the calls to the server, that a completed order does. What is left
 * is Temporal's own cost of running the saga's shape.
 *
 * The transient and slow payments of the failure mix are kept, since they
 * change what the server sees (a failed attempt, a heartbeat); declines and
 * short stock are not, since they are answers of our database and provider.
 *
 * `finalFile` stands in for the status row the benchmark watches: one line per
 * order that reached a final status, `<orderId> <status> <ms since epoch>`.
 */
export function floorActivities(services: SimulatedServices, finalFile: string): SagaActivities {
  const final = (ref: OrderRef, status: OrderStatus) => appendFileSync(finalFile, `${ref.orderId} ${status} ${Date.now()}\n`);
  return {
    claimAndReserve: async (_ref: OrderRef, _runId: string, _startToken: string | null = null): Promise<ReserveOutcome> => {
      await providerCall((signal) => callService('inventory', services.inventory, services.random, signal));
      return 'RESERVED';
    },
    chargePayment: async (ref: OrderRef): Promise<void> => {
      const callMs = chargeLatencyMs(services.payment, paymentIdempotencyKey(ref));
      const { failureRate } = services.payment;
      await providerCall((signal) => abortableDelay(callMs, signal));
      if (failureRate > 0 && (services.random ?? Math.random)() < failureRate) {
        // As the real step reports the provider's failure: with the call's duration, for the saga's budget.
        throw ApplicationFailure.create({ message: 'payment provider unavailable (simulated)', type: ErrorType.ProviderUnavailable, details: [{ callMs }] });
      }
    },
    sendNotification: async (): Promise<void> => {
      await providerCall((signal) => callService('notification', services.notify, services.random, signal));
    },
    claimOrder: async (): Promise<boolean> => true,
    completeOrder: async (ref: OrderRef): Promise<void> => final(ref, 'COMPLETED'),
    markCompensating: async (_ref: OrderRef, reason: FailureReason | null = null): Promise<RecordedStatus> => ({
      status: 'COMPENSATING',
      failureReason: reason,
    }),
    finishOrder: async (ref: OrderRef, status: 'FAILED' | 'CANCELLED'): Promise<void> => final(ref, status),
    releaseInventory: async (): Promise<void> => undefined,
    refundPayment: async (): Promise<void> => undefined,
  };
}
