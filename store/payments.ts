import { inTransaction, type Pool, type Queryable } from '../lib/db/pool';
import type { OrderRef } from '../workflows/types';
import { transition } from './orders';

/**
 * The payment ledger: our record of the provider's answers, which the API shows
 * as `payment.chargedCents` / `refundedCents`. The provider is the only source of
 * truth about money; nothing here decides whether money moves.
 */

/** What the provider is asked to charge for this attempt; null when the attempt's row is missing. */
export async function amountToCharge(db: Queryable, ref: OrderRef): Promise<{ amountCents: number; paymentMethod: string } | null> {
  const order = await db.query<{ amount_cents: number; payment_method: string }>(
    `SELECT amount_cents, payment_method FROM orders WHERE id = $1 AND attempt = $2`,
    [ref.orderId, ref.attempt],
  );
  const row = order.rows[0];
  return row ? { amountCents: row.amount_cents, paymentMethod: row.payment_method } : null;
}

/** Records a charge the provider confirmed and moves the order to PAID, in one transaction. */
export async function recordCharge(pool: Pool, ref: OrderRef, amountCents: number): Promise<void> {
  await inTransaction(pool, async (tx) => {
    await tx.query(
      `INSERT INTO payments (order_id, attempt, status, charged_cents) VALUES ($1, $2, 'CHARGED', $3)
       ON CONFLICT DO NOTHING`,
      [ref.orderId, ref.attempt, amountCents],
    );
    // Only from RESERVED: an attempt that lands after the saga moved on (it is
    // compensating) must not change the status; completeOrder checks it strictly.
    await transition(tx, ref, ['RESERVED'], 'PAID');
  });
}

/** Our record takes the provider's figures for this attempt after a refund, whatever it held before. */
export async function recordProviderState(
  db: Queryable,
  ref: OrderRef,
  state: { chargedCents: number; refundedCents: number },
): Promise<void> {
  const status = state.refundedCents > 0 ? 'REFUNDED' : state.chargedCents > 0 ? 'CHARGED' : 'VOIDED';
  await db.query(
    `INSERT INTO payments (order_id, attempt, status, charged_cents, refunded_cents) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (order_id, attempt) DO UPDATE SET status = EXCLUDED.status, charged_cents = EXCLUDED.charged_cents,
       refunded_cents = EXCLUDED.refunded_cents, updated_at = now()`,
    [ref.orderId, ref.attempt, status, state.chargedCents, state.refundedCents],
  );
}
