import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../../lib/db/pool';
import { ProviderUnavailableError, paymentIdempotencyKey, type PaymentProvider } from '../../providers/payment-provider';
import { amountToCharge, recordCharge, recordProviderState } from '../../store/payments';
import { ErrorType, type OrderRef } from '../../workflows/types';
import { heartbeatingAttempt, providerCall } from '../heartbeats';

/**
 * The payment step and its compensation. The provider is the only source of
 * truth about money; the ledger (store/payments.ts) is our record of its answers.
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
      const order = await amountToCharge(pool, ref);
      if (!order) {
        throw ApplicationFailure.nonRetryable(`Order ${ref.orderId} attempt ${ref.attempt} not found`, ErrorType.OrderNotFound);
      }
      const request = { idempotencyKey: paymentIdempotencyKey(ref), ...order };
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
      await recordCharge(pool, ref, outcome.amountCents);
    }),

    /**
     * Makes sure this attempt keeps no money: the provider refunds a charge that
     * landed and cancels the key so that one still on its way is refused. Our
     * record then takes the provider's figures, whatever it held before.
     */
    refundPayment: heartbeatingAttempt(async (ref: OrderRef): Promise<void> => {
      const state = await provider.refund(paymentIdempotencyKey(ref), new AbortController().signal);
      await recordProviderState(pool, ref, state);
    }),
  };
}
