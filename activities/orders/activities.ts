import type { Pool } from '../../lib/db/pool';
import { inTransaction } from '../../lib/db/pool';
import { findOrderIdentity, insertOrder, markStarted, moveOrder } from '../../store/orders';
import * as stock from '../../store/stock';
import { isTerminal, type FailureReason, type OrderInput, type OrderRef, type RecordedStatus } from '../../workflows/types';

/** Status changes that are not the side effect of a domain step. */
export function orderRecordActivities(pool: Pool) {
  return {
    /**
     * Claims the row the API committed for this attempt (under the request's
     * `startToken`), for this run (`runId`: the workflow's first run id): the
     * saga's confirmation of a reserve step that did not answer. False means the
     * API withdrew the order (it answered 503) or another run holds it, and this
     * run must end without touching anything.
     */
    async claimOrder(ref: OrderRef, runId: string, startToken: string | null = null): Promise<boolean> {
      return markStarted(pool, ref, runId, startToken);
    },

    /** Writes the order row if it is missing. Not a step of the saga: the activity tests set orders up with it. */
    async recordOrder(input: OrderInput): Promise<void> {
      await inTransaction(pool, (tx) => insertOrder(tx, input));
    },

    async completeOrder(ref: OrderRef): Promise<void> {
      await stock.completeOrder(pool, ref);
    },

    /**
     * Moves the order to COMPENSATING, recording `reason` (what the compensation
     * is for, so how it will end), and answers where the order now stands. The
     * database has the last word: if it already holds a decision for this attempt
     * (a final status, or COMPENSATING with its reason), that is the answer and
     * nothing is written, and the saga adopts it. Two ways to get there: an
     * earlier try of this workflow task finished the order, then the task was
     * lost, and a cancel arrived in the retried task; or two tries of one task
     * ran at once (a worker that lost Temporal but not PostgreSQL), and the first
     * markCompensating to commit decided. A retried call after a lost reply finds
     * its own decision.
     */
    async markCompensating(ref: OrderRef, reason: FailureReason | null = null): Promise<RecordedStatus> {
      const found = await findOrderIdentity(pool, ref.orderId);
      if (found && found.attempt === ref.attempt && (isTerminal(found.status) || found.status === 'COMPENSATING')) {
        return { status: found.status, failureReason: found.failureReason };
      }
      await moveOrder(pool, ref, ['PENDING', 'RESERVED', 'PAID'], 'COMPENSATING', reason);
      return { status: 'COMPENSATING', failureReason: reason };
    },

    async finishOrder(ref: OrderRef, status: 'FAILED' | 'CANCELLED', reason: FailureReason): Promise<void> {
      await moveOrder(pool, ref, ['COMPENSATING'], status, reason);
    },
  };
}
