import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/types';

/*
 * The inventory and notification services stand for outside systems, as the
 * payment provider does: they live beside it, outside activities/, because the
 * benchmark's baselines call the same services without Temporal.
 */

/** How a simulated downstream service behaves: the *_LATENCY_MS and *_FAILURE_RATE settings. */
export interface ServiceBehaviour {
  latencyMs: number;
  failureRate: number;
}

/**
 * The payment provider's behaviour, plus the PAYMENT_SLOW_* settings: a share of
 * payments whose charge takes `slowMs` instead of `latencyMs`, long enough to
 * outlast the payment step's heartbeat timeout. Only the simulated provider reads
 * them (providers/simulated-payment-provider.ts); unset means no slow charges.
 */
export interface PaymentBehaviour extends ServiceBehaviour {
  slowRate?: number;
  slowMs?: number;
  /**
   * A test hook (PAYMENT_OUTAGE_FILE): while a file exists at this path, every
   * call to the provider fails as unavailable. Read on each call, so a test can
   * take the provider down and bring it back without restarting the worker.
   */
  outageFile?: string;
}

export interface SimulatedServices {
  inventory: ServiceBehaviour;
  payment: PaymentBehaviour;
  notify: ServiceBehaviour;
  /** Injectable for tests; Math.random otherwise. */
  random?: () => number;
}

/**
 * Waits `ms` unless `signal` fires first; then rejects with the signal's reason
 * (in an activity, the CancelledFailure that reports the attempt as cancelled).
 */
export async function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) {
    if (signal.aborted) throw signal.reason;
    return;
  }
  await sleep(ms, undefined, { signal }).catch((err: unknown) => {
    throw signal.aborted ? signal.reason : err;
  });
}

/**
 * Stands in for the network call to the inventory or notification service:
 * waits its latency, then fails with a retryable error at its failure rate. The
 * failure comes before the effect, so it never leaves a half-applied change. A
 * cancel interrupts the wait. (The payment provider has its own simulation, in
 * providers/simulated-payment-provider.ts, because a charge can land after
 * its caller gave up.)
 */
export async function callService(
  name: string,
  behaviour: ServiceBehaviour,
  random: () => number = Math.random,
  signal: AbortSignal = new AbortController().signal,
): Promise<void> {
  await abortableDelay(behaviour.latencyMs, signal);
  if (behaviour.failureRate > 0 && random() < behaviour.failureRate) {
    throw ApplicationFailure.retryable(`${name} service unavailable (simulated)`, ErrorType.ProviderUnavailable);
  }
}
