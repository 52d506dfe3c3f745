import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';

/**
 * How often a running provider call (or a whole attempt, heartbeatingAttempt)
 * heartbeats. The first beat comes after one interval, not at once: a call
 * shorter than that (most of them) sends no heartbeat at all, and the worker's
 * SDK sends at most one per 0.8 × the activity's heartbeat timeout. A cancel reaches the call with the answer to its
 * next heartbeat, so the heartbeat timeout of a step (workflows/activity-options.ts)
 * bounds how long a cancel takes to interrupt it.
 */
export const HEARTBEAT_INTERVAL_MS = 1_000;

/** Set while an attempt heartbeats (withHeartbeats): nested calls add no timer of their own. */
const beatingAttempt = new AsyncLocalStorage<true>();

/**
 * Runs `fn` in the current activity attempt, heartbeating every
 * HEARTBEAT_INTERVAL_MS for as long as it runs. Outside an activity, in a local
 * activity (the server never hears of its heartbeats) and inside another
 * withHeartbeats it only runs `fn`.
 */
async function withHeartbeats<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = activityContext();
  if (!ctx || ctx.info.isLocal || beatingAttempt.getStore()) return fn();
  return beatingAttempt.run(true, async () => {
    const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_INTERVAL_MS);
    try {
      return await fn();
    } finally {
      clearInterval(beat);
    }
  });
}

/**
 * The activity `fn`, heartbeating from its start to its end instead of only
 * during its provider call. Reserve and charge are wrapped in it: the SQL
 * before and after their call waits for a pooled connection and for row locks,
 * and an attempt that stopped heartbeating there would time out while still
 * holding its connection, its retry adding load just when the database is short
 * of connections. The connection and statement timeouts (lib/db/pool.ts) and the
 * step's start-to-close bound that SQL instead of the heartbeat timeout.
 */
export function heartbeatingAttempt<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) => withHeartbeats(() => fn(...args));
}

/**
 * Runs `call` as one provider call of the current activity: heartbeats for as
 * long as it runs (withHeartbeats) and hands it the activity's cancellation as an
 * AbortSignal. A cancel that arrived before the call (while the attempt waited
 * for the database) sends no request at all: nobody would wait for its answer.
 * Outside an activity (tests call activity functions directly) it runs `call`
 * with a signal that never fires.
 */
export async function providerCall<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return call(new AbortController().signal);
  const signal = ctx.cancellationSignal;
  if (signal.aborted) throw signal.reason;
  return withHeartbeats(() => call(signal));
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // not running as an activity
  }
}
