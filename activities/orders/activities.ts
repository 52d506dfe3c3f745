import type { Pool } from '../../lib/db/pool';
import { inTransaction } from '../../lib/db/pool';
import type { FailureReason, OrderInput, OrderRef } from '../../workflows/types';
import { commitReservation } from '../inventory/activities';
import { insertOrder, markStarted, moveOrder } from './records';

/** Status changes that are not the side effect of a domain step. */
export function orderRecordActivities(pool: Pool) {
  return {
    /**
     * The saga's first step: claims the row the API committed for this attempt.
     * False means the API withdrew the order (it answered 503), and this run
     * must end without touching anything.
     */
    async claimOrder(ref: OrderRef): Promise<boolean> {
      return markStarted(pool, ref);
    },

    /**
     * Writes the order row if it is missing. The saga's first step before
     * claimOrder existed (recorded histories still replay it), and how the
     * benchmark's baseline designs record their orders.
     */
    async recordOrder(input: OrderInput): Promise<void> {
      await inTransaction(pool, (tx) => insertOrder(tx, input));
    },

    async completeOrder(ref: OrderRef): Promise<void> {
      // One transaction: an order is COMPLETED exactly when its goods have left the shelf.
      await inTransaction(pool, async (tx) => {
        await moveOrder(tx, ref, ['PAID'], 'COMPLETED');
        await commitReservation(tx, ref);
      });
    },

    async markCompensating(ref: OrderRef): Promise<void> {
      await moveOrder(pool, ref, ['PENDING', 'RESERVED', 'PAID'], 'COMPENSATING');
    },

    async finishOrder(ref: OrderRef, status: 'FAILED' | 'CANCELLED', reason: FailureReason): Promise<void> {
      await moveOrder(pool, ref, ['COMPENSATING'], status, reason);
    },
  };
}
