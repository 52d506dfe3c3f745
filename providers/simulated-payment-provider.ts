import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from '../lib/db/pool';
import type { PaymentBehaviour } from './simulated-services';
import {
  ProviderUnavailableError,
  type ChargeOutcome,
  type ChargeRequest,
  type PaymentProvider,
  type ProviderPaymentState,
} from './payment-provider';

/** Stripe's test payment method for a card that is always declined. */
export const DECLINED_PAYMENT_METHOD = 'pm_card_chargeDeclined';

/**
 * How long we wait for the provider's answer to a charge before calling it
 * unavailable (a client-side timeout, as any HTTP client to a provider has).
 * Below the payment step's start-to-close timeout, so a slow provider surfaces
 * as ProviderUnavailable, which counts against the payment budget, and never as
 * an activity timeout, which does not.
 */
export const PROVIDER_CALL_TIMEOUT_MS = 20_000;

/**
 * A payment provider simulated on its own schema (`simulated_provider`), behaving
 * like a remote one in the ways that matter to the saga:
 * - a charge request takes `latencyMs` to be processed, and is processed whether
 *   or not the caller is still waiting: a charge can land after its activity was
 *   cancelled or timed out;
 * - at `failureRate` the provider answers with an error instead, before charging;
 * - at `slowRate`, a payment's charge requests take `slowMs` instead of `latencyMs`
 *   (see isSlowCharge);
 * - while the `outageFile` exists (a test hook, unset by default), every charge
 *   fails as at `failureRate` and every refund fails at once: the provider is down;
 * - one charge per idempotency key; a refund of a key not yet charged cancels the
 *   key, and a charge arriving later for it is refused.
 * Nothing of ours joins this schema in a transaction: the saga learns about
 * money only through these calls' answers.
 */
export class SimulatedPaymentProvider implements PaymentProvider {
  constructor(
    private readonly pool: Pool,
    private readonly behaviour: PaymentBehaviour,
    private readonly random: () => number = Math.random,
  ) {}

  async charge(request: ChargeRequest, signal: AbortSignal): Promise<ChargeOutcome> {
    const startedAt = Date.now();
    const fails = this.inOutage() || (this.behaviour.failureRate > 0 && this.random() < this.behaviour.failureRate);
    // The request is on its way: from here its effect no longer depends on us.
    const latencyMs = chargeLatencyMs(this.behaviour, request.idempotencyKey);
    const processed = (async () => {
      if (latencyMs > 0) await sleep(latencyMs);
      if (fails) return 'UNAVAILABLE' as const;
      return this.applyCharge(request);
    })();
    // A charge that lands after the caller left is the caller's compensation's business.
    processed.catch(() => undefined);

    const waitLimit = AbortSignal.any([signal, AbortSignal.timeout(PROVIDER_CALL_TIMEOUT_MS)]);
    let outcome: ChargeOutcome | 'UNAVAILABLE';
    try {
      outcome = await untilAborted(processed, waitLimit);
    } catch (err) {
      if (signal.aborted) throw signal.reason; // our cancel, not the provider's fault
      if (waitLimit.aborted) {
        throw new ProviderUnavailableError('payment provider did not answer in time (simulated)', Date.now() - startedAt);
      }
      throw err; // the provider's ledger (our PostgreSQL) failed: an outage of ours
    }
    if (outcome === 'UNAVAILABLE') {
      throw new ProviderUnavailableError('payment provider unavailable (simulated)', Date.now() - startedAt);
    }
    return outcome;
  }

  async refund(key: string): Promise<ProviderPaymentState> {
    if (this.inOutage()) throw new ProviderUnavailableError('payment provider unavailable (simulated outage)', 0);
    // One statement: a key not yet charged is cancelled (a later charge is
    // refused); a succeeded charge is refunded in full; anything else stays.
    const res = await this.pool.query<{ amount_cents: number; refunded_cents: number }>(
      `INSERT INTO simulated_provider.charges AS c (idempotency_key, status) VALUES ($1, 'CANCELED')
       ON CONFLICT (idempotency_key) DO UPDATE SET
         status = CASE WHEN c.status = 'SUCCEEDED' THEN 'REFUNDED' ELSE c.status END,
         refunded_cents = CASE WHEN c.status = 'SUCCEEDED' THEN c.amount_cents ELSE c.refunded_cents END,
         updated_at = now()
       RETURNING amount_cents, refunded_cents`,
      [key],
    );
    const row = res.rows[0]!;
    return { chargedCents: row.amount_cents, refundedCents: row.refunded_cents };
  }

  private inOutage(): boolean {
    return this.behaviour.outageFile !== undefined && existsSync(this.behaviour.outageFile);
  }

  private async applyCharge(request: ChargeRequest): Promise<ChargeOutcome> {
    const declined = request.paymentMethod === DECLINED_PAYMENT_METHOD;
    // First request with this key decides; a repeat gets the same answer back.
    const res = await this.pool.query<{ status: string; amount_cents: number }>(
      `INSERT INTO simulated_provider.charges AS c (idempotency_key, status, amount_cents) VALUES ($1, $2, $3)
       ON CONFLICT (idempotency_key) DO UPDATE SET updated_at = c.updated_at
       RETURNING status, amount_cents`,
      [request.idempotencyKey, declined ? 'DECLINED' : 'SUCCEEDED', declined ? 0 : request.amountCents],
    );
    const row = res.rows[0]!;
    switch (row.status) {
      case 'DECLINED':
        return { status: 'DECLINED', message: 'Your card was declined.' };
      case 'CANCELED':
        return { status: 'CANCELED' };
      default: // SUCCEEDED, or REFUNDED: the idempotent answer of the original charge
        return { status: 'SUCCEEDED', amountCents: row.amount_cents };
    }
  }
}

/**
 * Whether the provider is slow for the payment under `key`: decided by the key,
 * not drawn per call, so that every retry of a slow payment is slow again (as a
 * provider stuck on one payment is; a retry that happened to be fast would hide a
 * step that cannot outlast its heartbeat timeout), and so that the benchmark can
 * tell which payments were slow from their keys alone (bench/database.ts).
 */
export function isSlowCharge(key: string, slowRate: number): boolean {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32 < slowRate;
}

/** How long the provider takes over the charge of `idempotencyKey`: PAYMENT_SLOW_MS for the slow share (isSlowCharge), its latency otherwise. */
export function chargeLatencyMs(behaviour: PaymentBehaviour, idempotencyKey: string): number {
  const { slowRate = 0, slowMs = 0 } = behaviour;
  return slowRate > 0 && isSlowCharge(idempotencyKey, slowRate) ? slowMs : behaviour.latencyMs;
}

/** `promise`'s outcome, or a rejection with the signal's reason if it fires first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
