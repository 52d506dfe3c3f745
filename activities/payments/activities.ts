import { ApplicationFailure } from '@temporalio/common';
import { inTransaction, type Pool } from '../../lib/db/pool';
import { ErrorType, type OrderRef } from '../../workflows/types';
import { transition } from '../../store/orders';
import { heartbeatingAttempt, providerCall } from '../simulation';
import { ProviderUnavailableError, paymentIdempotencyKey, type PaymentProvider } from '../../providers/payment-provider';

/**
 * The payment step and its compensation. The provider is the only source of
 * truth about money; the `payments` table is our record of its answers, which
 * the API shows as `payment.chargedCents` / `refundedCents`.
 */
export function paymentActivities(pool: Pool, provider: PaymentProvider) {
  return {
    /**
     * Charges the order's amount under the key of this attempt, then records the
     * charge and moves the order to PAID in one transaction of ours. A repeated
     * call (lost reply, worker crash) reaches the provider with the same key and
     * gets the same charge back.
     */
    chargePayment: heartbeatingAttempt(async (ref: OrderRef): Promise<void> => {
      const order = await pool.query<{ amount_cents: number; payment_method: string }>(
        `SELECT amount_cents, payment_method FROM orders WHERE id = $1 AND attempt = $2`,
        [ref.orderId, ref.attempt],
      );
      const row = order.rows[0];
      if (!row) {
        throw ApplicationFailure.nonRetryable(`Order ${ref.orderId} attempt ${ref.attempt} not found`, ErrorType.OrderNotFound);
      }
      const request = { idempotencyKey: paymentIdempotencyKey(ref), amountCents: row.amount_cents, paymentMethod: row.payment_method };
      const outcome = await providerCall((signal) => provider.charge(request, signal)).catch((err: unknown) => {
        if (!(err instanceof ProviderUnavailableError)) throw err;
        // The workflow counts callMs against the order's payment budget; our
        // own failures (database, worker) are plain errors and count nothing.
        throw ApplicationFailure.create({
          message: err.message,
          type: ErrorType.ProviderUnavailable,
          details: [{ callMs: err.callMs }],
        });
      });
      if (outcome.status === 'DECLINED') throw ApplicationFailure.nonRetryable(outcome.message, ErrorType.PaymentDeclined);
      if (outcome.status === 'CANCELED') {
        // Only a compensation cancels a key, and it runs after this step was
        // given up: this attempt is a late one that nobody waits for.
        throw ApplicationFailure.nonRetryable('The payment was cancelled before the charge arrived.', ErrorType.PaymentCanceled);
      }
      await inTransaction(pool, async (tx) => {
        await tx.query(
          `INSERT INTO payments (order_id, attempt, status, charged_cents) VALUES ($1, $2, 'CHARGED', $3)
           ON CONFLICT DO NOTHING`,
          [ref.orderId, ref.attempt, outcome.amountCents],
        );
        // Only from RESERVED: an attempt that lands after the saga moved on (it is
        // compensating) must not change the status; completeOrder checks it strictly.
        await transition(tx, ref, ['RESERVED'], 'PAID');
      });
    }),

    /**
     * Makes sure this attempt keeps no money: the provider refunds a charge that
     * landed and cancels the key so that one still on its way is refused. Our
     * record then takes the provider's figures, whatever it held before.
     */
    async refundPayment(ref: OrderRef): Promise<void> {
      const state = await provider.refund(paymentIdempotencyKey(ref), new AbortController().signal);
      const status = state.refundedCents > 0 ? 'REFUNDED' : state.chargedCents > 0 ? 'CHARGED' : 'VOIDED';
      await pool.query(
        `INSERT INTO payments (order_id, attempt, status, charged_cents, refunded_cents) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (order_id, attempt) DO UPDATE SET status = EXCLUDED.status, charged_cents = EXCLUDED.charged_cents,
           refunded_cents = EXCLUDED.refunded_cents, updated_at = now()`,
        [ref.orderId, ref.attempt, status, state.chargedCents, state.refundedCents],
      );
    },
  };
}
