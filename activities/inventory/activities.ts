import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../../lib/db/pool';
import { callService, type ServiceBehaviour } from '../../providers/simulated-services';
import { markStarted } from '../../store/orders';
import { OutOfStockError, releaseStock, reserveStock } from '../../store/stock';
import { ErrorType, type OrderRef, type ReserveOutcome } from '../../workflows/types';
import { heartbeatingAttempt, providerCall } from '../heartbeats';

export function inventoryActivities(pool: Pool, behaviour: ServiceBehaviour, random?: () => number) {
  /** The inventory service's call, then the reservation (store/stock.ts reserveStock); short stock fails the order. */
  async function reserve(ref: OrderRef): Promise<void> {
    await providerCall((signal) => callService('inventory', behaviour, random, signal));
    await reserveStock(pool, ref).catch((err: unknown) => {
      if (err instanceof OutOfStockError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.OutOfStock);
      throw err;
    });
  }

  return {
    /** `reserve` alone, with no claim. Not a step of the saga: the activity tests reserve with it. */
    reserveInventory: heartbeatingAttempt(async (ref: OrderRef): Promise<void> => {
      await reserve(ref);
    }),

    /**
     * The saga's first step: claims the row the API committed (under the
     * request's `startToken`) for the run `runId` (its first run id), as
     * claimOrder does, then reserves, in one activity task: a claim of its own
     * would cost every order one more action (docs/saga.md). NOT_CLAIMED means
     * the API withdrew the order or another run holds it: nothing was done.
     */
    claimAndReserve: heartbeatingAttempt(async (ref: OrderRef, runId: string, startToken: string | null = null): Promise<ReserveOutcome> => {
      if (!(await markStarted(pool, ref, runId, startToken))) return 'NOT_CLAIMED';
      await reserve(ref);
      return 'RESERVED';
    }),

    /** Gives the reserved quantities back (store/stock.ts releaseStock): safe to repeat, and before the reservation. */
    releaseInventory: heartbeatingAttempt(async (ref: OrderRef): Promise<void> => {
      await releaseStock(pool, ref);
    }),
  };
}
