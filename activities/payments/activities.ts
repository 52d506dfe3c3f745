import { ApplicationFailure } from '@temporalio/common';
import { inTransaction, type Pool } from '../../lib/db/pool';
import { ErrorType, type OrderRef } from '../../workflows/types';
import { transition } from '../orders/records';
import { callService, type ServiceBehaviour } from '../simulation';

/** Stripe's test payment method for a card that is always declined. */
export const DECLINED_PAYMENT_METHOD = 'pm_card_chargeDeclined';

/**
 * The payment provider is simulated on our own database: the `payments` table is
 * its ledger, keyed by (order, attempt) the way a real provider is called with an
 * idempotency key. A charge and its refund therefore never apply twice.
 */
export function paymentActivities(pool: Pool, behaviour: ServiceBehaviour, random?: () => number) {
  return {
    /** Charges the order's amount once per attempt and moves the order to PAID in the same transaction. */
    async chargePayment(ref: OrderRef): Promise<void> {
      await callService('payment', behaviour, random);
      await inTransaction(pool, async (tx) => {
        const order = await tx.query<{ amount_cents: number; payment_method: string }>(
          `SELECT amount_cents, payment_method FROM orders WHERE id = $1`,
          [ref.orderId],
        );
        const row = order.rows[0];
        if (!row) throw ApplicationFailure.nonRetryable(`Order ${ref.orderId} not found`, ErrorType.OrderNotFound);
        if (row.payment_method === DECLINED_PAYMENT_METHOD) {
          throw ApplicationFailure.nonRetryable('Your card was declined.', ErrorType.PaymentDeclined);
        }
        const charge = await tx.query(
          `INSERT INTO payments (order_id, attempt, status, charged_cents)
           VALUES ($1, $2, 'CHARGED', $3) ON CONFLICT DO NOTHING`,
          [ref.orderId, ref.attempt, row.amount_cents],
        );
        // Charged before (a retry after a lost reply), or voided by a refund that
        // ran first: either way there is nothing more to take.
        if (charge.rowCount === 0) return;
        await transition(tx, ref, ['RESERVED'], 'PAID');
      });
    },

    /**
     * Refunds whatever this attempt charged. Safe to repeat, and safe to run
     * before the charge: it then leaves a VOIDED row and a late charge does nothing.
     */
    async refundPayment(ref: OrderRef): Promise<void> {
      await inTransaction(pool, async (tx) => {
        const voided = await tx.query(
          `INSERT INTO payments (order_id, attempt, status) VALUES ($1, $2, 'VOIDED') ON CONFLICT DO NOTHING`,
          [ref.orderId, ref.attempt],
        );
        if (voided.rowCount === 1) return;
        await tx.query(
          `UPDATE payments SET status = 'REFUNDED', refunded_cents = charged_cents, updated_at = now()
           WHERE order_id = $1 AND attempt = $2 AND status = 'CHARGED'`,
          [ref.orderId, ref.attempt],
        );
      });
    },
  };
}
