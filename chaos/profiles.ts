/**
 * How big a chaos run is. `full` and `quick` are `npm run chaos` with and
 * without `--quick`; `smoke` is the small variant `npm test` runs. Rates stay
 * well below the stack's measured capacity on a 2-core machine (about 20
 * orders/s, docs/benchmarks.md), so the faults, not the load, decide what happens.
 */
export interface Profile {
  name: 'full' | 'quick' | 'smoke';
  /** Orders submitted per second, on an open-loop schedule. */
  rate: number;
  /** How long orders are submitted for. */
  loadSeconds: number;
  /** How many faults of each kind are injected while orders are submitted. */
  faultsPerKind: number;
  /** How long a provider outage lasts, ms (drawn per outage). */
  outageMs: [number, number];
  /** How long the system may take to settle after the load before the checks run anyway. */
  drainSeconds: number;
  /** Units on hand of the one scarce product, which runs out during the run. */
  scarceStock: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  full: { name: 'full', rate: 6.5, loadSeconds: 180, faultsPerKind: 9, outageMs: [5_000, 12_000], drainSeconds: 600, scarceStock: 60 },
  quick: { name: 'quick', rate: 6, loadSeconds: 60, faultsPerKind: 3, outageMs: [5_000, 9_000], drainSeconds: 300, scarceStock: 20 },
  smoke: { name: 'smoke', rate: 4, loadSeconds: 10, faultsPerKind: 1, outageMs: [4_000, 6_000], drainSeconds: 100, scarceStock: 5 },
};

/**
 * The order mix, as shares of submissions (out of stock, declined) or of
 * accepted orders (cancels, repeated keys). Transient and slow provider calls
 * are the worker's PAYMENT_FAILURE_RATE and PAYMENT_SLOW_* settings (SERVICE_ENV).
 */
export const MIX = {
  outOfStock: 0.07,
  declined: 0.08,
  scarceProduct: 0.1,
  withoutIdempotencyKey: 0.1,
  cancel: 0.1,
  /** A cancel is sent uniformly 0 to this many ms after the 202: it meets every step. */
  cancelMaxDelayMs: 2_500,
  repeatKeySameBody: 0.05,
  repeatKeyOtherBody: 0.02,
  /** How often a client retries an order answered 503 TEMPORAL_UNAVAILABLE before giving up. */
  unavailableRetries: 3,
  /** How often one order is sent to POST /retry at most (a provider outage may fail it again). */
  maxPaymentRetries: 6,
} as const;

/**
 * The simulated services of the stack under test. The latencies are those of
 * `npm start` and the benchmark; the payment budget is a few seconds so that a
 * provider outage really fails orders with PAYMENT_UNAVAILABLE, which the
 * driver then retries. A slow charge (4 s) outlasts the charge step's 3 s
 * heartbeat timeout, as in the benchmark's failure mix.
 */
export const SERVICE_ENV = {
  INVENTORY_LATENCY_MS: '200',
  PAYMENT_LATENCY_MS: '300',
  NOTIFY_LATENCY_MS: '150',
  PAYMENT_FAILURE_RATE: '0.05',
  PAYMENT_SLOW_RATE: '0.02',
  PAYMENT_SLOW_MS: '4000',
  PAYMENT_BUDGET_MS: '4000',
} as const;
