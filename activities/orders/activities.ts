import type { Pool } from '../../lib/db/pool';
import { inTransaction } from '../../lib/db/pool';
import type { FailureReason, OrderInput, OrderRef } from '../../workflows/types';
import { commitReservation } from '../inventory/activities';
import { insertOrder, transition } from './records';

/** Status changes that are not the side effect of a domain step. */
export function orderRecordActivities(pool: Pool) {
  return {
    async recordOrder(input: OrderInput): Promise<void> {
      await inTransaction(pool, (tx) => insertOrder(tx, input));
    },

    async completeOrder(ref: OrderRef): Promise<void> {
      // One transaction: an order is COMPLETED exactly when its goods have left the shelf.
      await inTransaction(pool, async (tx) => {
        await transition(tx, ref, ['PAID'], 'COMPLETED');
        await commitReservation(tx, ref);
      });
    },

    async markCompensating(ref: OrderRef): Promise<void> {
      await transition(pool, ref, ['PENDING', 'RESERVED', 'PAID'], 'COMPENSATING');
    },

    async finishOrder(ref: OrderRef, status: 'FAILED' | 'CANCELLED', reason: FailureReason): Promise<void> {
      await transition(pool, ref, ['COMPENSATING'], status, reason);
    },
  };
}
