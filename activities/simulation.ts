import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/types';

/** How a simulated downstream service behaves: the *_LATENCY_MS and *_FAILURE_RATE settings. */
export interface ServiceBehaviour {
  latencyMs: number;
  failureRate: number;
}

/**
 * The payment provider's behaviour, plus the PAYMENT_SLOW_* settings: a share of
 * payments whose charge takes `slowMs` instead of `latencyMs`, long enough to
 * outlast the payment step's heartbeat timeout. Only the simulated provider reads
 * them (activities/payments/simulated-provider.ts); unset means no slow charges.
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
 * How often a running provider call heartbeats. The first beat comes after one
 * interval, not at once: a call shorter than that (most of them) sends no
 * heartbeat at all, and the worker's SDK sends at most one per 0.8 × the
 * activity's heartbeat timeout. A cancel reaches the call with the answer to its
 * next heartbeat, so the heartbeat timeout of a step (workflows/activity-options.ts)
 * bounds how long a cancel takes to interrupt it.
 */
export const HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * Runs `call` as one provider call of the current activity: heartbeats every
 * HEARTBEAT_INTERVAL_MS for as long as it runs, and hands it the activity's
 * cancellation as an AbortSignal. Outside an activity (the benchmark's baseline
 * designs call the same domain code) it runs `call` with a signal that never fires.
 */
export async function providerCall<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return call(new AbortController().signal);
  // A local activity has no heartbeat: the server never hears of it.
  if (ctx.info.isLocal) return call(ctx.cancellationSignal);
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_INTERVAL_MS);
  try {
    return await call(ctx.cancellationSignal);
  } finally {
    clearInterval(beat);
  }
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
 * activities/payments/simulated-provider.ts, because a charge can land after
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

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // not running as an activity
  }
}
