import type { Pool } from '../../lib/db/pool';
import { inTransaction } from '../../lib/db/pool';
import type { FailureReason, OrderInput, OrderRef } from '../../workflows/types';
import { insertOrder, transition } from './records';

/** Status changes that are not the side effect of a domain step. */
export function orderRecordActivities(pool: Pool) {
  return {
    async recordOrder(input: OrderInput): Promise<void> {
      await inTransaction(pool, (tx) => insertOrder(tx, input));
    },

    async completeOrder(ref: OrderRef): Promise<void> {
      await transition(pool, ref, ['PAID'], 'COMPLETED');
    },

    async markCompensating(ref: OrderRef): Promise<void> {
      await transition(pool, ref, ['PENDING', 'RESERVED', 'PAID'], 'COMPENSATING');
    },

    async finishOrder(ref: OrderRef, status: 'FAILED' | 'CANCELLED', reason: FailureReason): Promise<void> {
      await transition(pool, ref, ['COMPENSATING'], status, reason);
    },
  };
}
