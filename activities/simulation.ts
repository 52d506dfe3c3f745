import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { ErrorType } from '../workflows/types';

/** How a simulated downstream service behaves: DESIGN.md's *_LATENCY_MS and *_FAILURE_RATE. */
export interface ServiceBehaviour {
  latencyMs: number;
  failureRate: number;
}

export interface SimulatedServices {
  inventory: ServiceBehaviour;
  payment: ServiceBehaviour;
  notify: ServiceBehaviour;
  /** Injectable for tests; Math.random otherwise. */
  random?: () => number;
}

/**
 * Stands in for the network call to a downstream service: waits its latency,
 * then fails with a retryable error at its failure rate. Runs before the
 * effect, so a simulated failure never leaves a half-applied change.
 *
 * It heartbeats first so that a cancel requested by the workflow reaches this
 * attempt; Context.sleep then rejects with a CancelledFailure.
 */
export async function callService(name: string, behaviour: ServiceBehaviour, random = Math.random): Promise<void> {
  const ctx = Context.current();
  ctx.heartbeat();
  if (behaviour.latencyMs > 0) await ctx.sleep(behaviour.latencyMs);
  if (behaviour.failureRate > 0 && random() < behaviour.failureRate) {
    throw ApplicationFailure.retryable(`${name} service unavailable (simulated)`, ErrorType.ProviderUnavailable);
  }
}
