/**
 * What the saga needs from a payment provider. Every call names the payment by
 * an idempotency key chosen by us, `order-<orderId>-<attempt>`, so that a call
 * repeated after a lost reply, a timeout or a worker crash acts once.
 *
 * docs/saga.md maps each method to a real provider's API (a payment intent that
 * is created and confirmed with the key, cancelled or refunded by compensation).
 */
export interface PaymentProvider {
  /**
   * Takes `amountCents` once per key. The charge may land at the provider after
   * the caller stopped waiting (it was cancelled, timed out or died): `refund`
   * undoes it either way. Rejects with ProviderUnavailableError when the call
   * failed or timed out without an answer: retrying with the same key is safe.
   */
  charge(request: ChargeRequest, signal: AbortSignal): Promise<ChargeOutcome>;
  /**
   * Makes sure nothing stays charged under `key`: refunds a charge that landed,
   * and cancels the payment so that a charge still on its way is refused when
   * it arrives. Safe to repeat. Resolves with what the provider holds for the key.
   */
  refund(key: string, signal: AbortSignal): Promise<ProviderPaymentState>;
}

export interface ChargeRequest {
  idempotencyKey: string;
  amountCents: number;
  paymentMethod: string;
}

export type ChargeOutcome =
  | { status: 'SUCCEEDED'; amountCents: number }
  | { status: 'DECLINED'; message: string }
  /** The key was cancelled (refunded before the charge arrived): nothing was taken. */
  | { status: 'CANCELED' };

export interface ProviderPaymentState {
  chargedCents: number;
  refundedCents: number;
}

/** The provider did not answer usefully: a 5xx, a reset connection, a client-side timeout. */
export class ProviderUnavailableError extends Error {
  constructor(
    message: string,
    /** How long the failed call took, counted against the order's payment budget. */
    readonly callMs: number,
  ) {
    super(message);
  }
}

export function paymentIdempotencyKey(ref: { orderId: string; attempt: number }): string {
  return `order-${ref.orderId}-${ref.attempt}`;
}
