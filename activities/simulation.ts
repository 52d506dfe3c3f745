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
 * Inside an activity it heartbeats first so that a cancel requested by the
 * workflow reaches this attempt (Context.sleep then rejects). Outside Temporal,
 * as in the benchmark's baseline designs, it is a plain wait.
 */
export async function callService(name: string, behaviour: ServiceBehaviour, random = Math.random): Promise<void> {
  const ctx = activityContext();
  ctx?.heartbeat();
  if (behaviour.latencyMs > 0) {
    await (ctx ? ctx.sleep(behaviour.latencyMs) : new Promise((r) => setTimeout(r, behaviour.latencyMs)));
  }
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
