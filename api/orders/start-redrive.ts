import { findOrderIdentity, findUnconfirmedStarts, getOrder, markStarted } from '../../activities/orders/records';
import type { Pool } from '../../lib/db/pool';
import type { Logger } from '../../lib/logger';
import { sagaInputFor } from './order-service';
import type { OrderWorkflows } from './workflow-gateway';

/**
 * Rows stay STARTING when the API could neither confirm nor withdraw a start
 * (it crashed, or PostgreSQL failed it at that moment), or when the run it met
 * ended without claiming the row. This many ms after the last change such a row
 * is past any request still working on it (a start waits 5 s, a withdrawal a few
 * more), so the re-drive may act. Starting it again is safe: a run acts only
 * after claiming the row, and a request that still withdraws it wins over a run
 * that has not claimed it yet.
 */
export const REDRIVE_AFTER_MS = 30_000;
export const REDRIVE_INTERVAL_MS = 15_000;

/** Starts the saga of every order whose start stayed unconfirmed. Returns how many it started. */
export async function redriveUnconfirmedStarts(
  pool: Pool,
  workflows: OrderWorkflows,
  paymentBudgetMs: number,
  olderThanMs = REDRIVE_AFTER_MS,
): Promise<number> {
  let started = 0;
  for (const ref of await findUnconfirmedStarts(pool, olderThanMs)) {
    // Withdrawn, moved to another attempt or claimed since the query: nothing to do.
    const identity = await findOrderIdentity(pool, ref.orderId);
    if (identity?.attempt !== ref.attempt || identity.startState !== 'STARTING') continue;
    const order = await getOrder(pool, ref.orderId);
    if (!order) continue;
    const input = sagaInputFor(order, ref.attempt, paymentBudgetMs);
    const outcome = await workflows.start(input);
    // An open run of this attempt claims the row itself; anything else waits for the
    // next round. A run claimed the row meanwhile? Then this claim fails, and so
    // will the new run's: it ends without acting.
    if (outcome.kind === 'STARTED') {
      await markStarted(pool, ref, outcome.runId);
      started++;
    }
  }
  return started;
}

/** Runs redriveUnconfirmedStarts every REDRIVE_INTERVAL_MS in the background; stop() ends it. */
export function scheduleStartRedrive(pool: Pool, workflows: OrderWorkflows, paymentBudgetMs: number, logger: Logger) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    redriveUnconfirmedStarts(pool, workflows, paymentBudgetMs)
      .then((n) => n > 0 && logger.warn({ started: n }, 're-drove orders whose start was unconfirmed'))
      .catch((err: unknown) => logger.warn({ err }, 'start re-drive failed; next round retries'))
      .finally(() => (running = false));
  }, REDRIVE_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
