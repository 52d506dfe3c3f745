import { findUnconfirmedStarts, withdrawStart, type StartRefusal } from '../../store/orders';
import type { OrderRef } from '../../workflows/types';
import type { Pool } from '../../lib/db/pool';
import type { Logger } from '../../lib/logger';

/**
 * Rows stay STARTING when the request that committed them was never answered:
 * its API process died (SIGKILL, the forced exit on shutdown) between the
 * commit and the start or before it could settle the start, or PostgreSQL
 * failed it at that moment (it answered 500 OUTCOME_UNKNOWN). This many ms
 * after the last change such a row is past any request still working on it (a
 * start waits at most 15 s, settling it a few more), so the sweep may act.
 *
 * The sweep only withdraws; it never starts a saga. The client was not told the
 * order went ahead, so it may well send the order again, and starting this one
 * as well would charge it twice. The one way such a request still becomes an
 * order is a run that Temporal had already started before the API died: that
 * run claims the row first (PostgreSQL orders the claim and the withdrawal), and
 * the order goes ahead (docs/saga.md tells clients to send an Idempotency-Key).
 */
export const SWEEP_AFTER_MS = 30_000;

/**
 * What a twin request still waiting for a withdrawn order hears (and the request
 * that started it, if it is still alive: order-service.ts answers what was recorded):
 * no order exists and none will run, as when Temporal did not answer in time.
 */
const SWEPT: StartRefusal = { code: 'TEMPORAL_UNAVAILABLE', cause: null };
export const SWEEP_INTERVAL_MS = 15_000;

/** Withdraws every attempt whose start stayed unconfirmed for `olderThanMs`; returns those it withdrew. */
export async function sweepUnconfirmedStarts(pool: Pool, olderThanMs = SWEEP_AFTER_MS): Promise<OrderRef[]> {
  const withdrawn: OrderRef[] = [];
  let failure: unknown;
  for (const start of await findUnconfirmedStarts(pool, olderThanMs)) {
    const ref = { orderId: start.orderId, attempt: start.attempt };
    try {
      // CLAIMED: a run got there first and holds the order; nothing to do.
      if ((await withdrawStart(pool, ref, start.startToken, SWEPT)) === 'WITHDRAWN') withdrawn.push(ref);
    } catch (err) {
      failure ??= err; // the others still get their turn; the next round retries this one
    }
  }
  if (failure !== undefined) throw failure;
  return withdrawn;
}

/** Runs sweepUnconfirmedStarts every SWEEP_INTERVAL_MS in the background; stop() ends it. */
export function scheduleStartSweep(pool: Pool, logger: Logger) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepUnconfirmedStarts(pool)
      .then((refs) => {
        for (const ref of refs) logger.warn(ref, 'withdrew an order whose request was never answered (no run had claimed it)');
      })
      .catch((err: unknown) => logger.warn({ err }, 'sweep of unconfirmed starts failed; next round retries'))
      .finally(() => (running = false));
  }, SWEEP_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
