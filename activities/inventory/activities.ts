import { ApplicationFailure } from '@temporalio/common';
import { inTransaction, type Pool, type PoolClient } from '../../lib/db/pool';
import { ErrorType, type OrderRef } from '../../workflows/types';
import { transition } from '../orders/records';
import { callService, providerCall, type ServiceBehaviour } from '../simulation';

export function inventoryActivities(pool: Pool, behaviour: ServiceBehaviour, random?: () => number) {
  return {
    /**
     * Takes every line's quantity out of stock in one transaction, all or none,
     * and moves the order to RESERVED in the same transaction. The reservation
     * row makes a retry (or a run after release) change nothing.
     */
    async reserveInventory(ref: OrderRef): Promise<void> {
      await providerCall((signal) => callService('inventory', behaviour, random, signal));
      await inTransaction(pool, async (tx) => {
        const claim = await tx.query(
          `INSERT INTO inventory_reservations (order_id, attempt, status, reserved_at)
           VALUES ($1, $2, 'RESERVED', now()) ON CONFLICT DO NOTHING`,
          [ref.orderId, ref.attempt],
        );
        if (claim.rowCount === 0) return; // reserved before, or already released: nothing to do
        await lockOrderProducts(tx, ref.orderId);
        const short = await tx.query<{ product_id: string }>(
          `WITH wanted AS (
             SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id
           ), taken AS (
             UPDATE products p SET stock = p.stock - w.quantity, updated_at = now()
             FROM wanted w WHERE p.id = w.product_id AND p.stock >= w.quantity
             RETURNING p.id
           )
           SELECT product_id FROM wanted WHERE product_id NOT IN (SELECT id FROM taken)`,
          [ref.orderId],
        );
        if (short.rowCount) {
          const ids = short.rows.map((r) => r.product_id).join(', ');
          // Throwing rolls back the whole transaction: no partial reservation survives.
          throw ApplicationFailure.nonRetryable(`Out of stock: ${ids}`, ErrorType.OutOfStock);
        }
        await transition(tx, ref, ['PENDING'], 'RESERVED');
      });
    },

    /**
     * Puts the reserved quantities back. Safe to run any number of times, and
     * before the reservation: it leaves a RELEASED row that a late reserve sees.
     */
    async releaseInventory(ref: OrderRef): Promise<void> {
      await inTransaction(pool, async (tx) => {
        // Claim first: if no reservation exists, this RELEASED row is the tombstone.
        // If one exists (or is being committed), the insert waits for it and yields.
        const tombstone = await tx.query(
          `INSERT INTO inventory_reservations (order_id, attempt, status, released_at)
           VALUES ($1, $2, 'RELEASED', now()) ON CONFLICT DO NOTHING`,
          [ref.orderId, ref.attempt],
        );
        if (tombstone.rowCount === 1) return;
        const released = await tx.query(
          `UPDATE inventory_reservations SET status = 'RELEASED', released_at = now()
           WHERE order_id = $1 AND attempt = $2 AND status = 'RESERVED'`,
          [ref.orderId, ref.attempt],
        );
        if (released.rowCount === 0) return; // released before
        await lockOrderProducts(tx, ref.orderId);
        await tx.query(
          `UPDATE products p SET stock = p.stock + i.quantity, updated_at = now()
           FROM (SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id) i
           WHERE p.id = i.product_id`,
          [ref.orderId],
        );
      });
    },
  };
}

/**
 * Locks the order's product rows in id order before changing stock, so that two
 * multi-item orders touching the same products cannot deadlock each other.
 */
async function lockOrderProducts(tx: PoolClient, orderId: string): Promise<void> {
  await tx.query(
    `SELECT p.id FROM products p JOIN order_items i ON i.product_id = p.id
     WHERE i.order_id = $1 ORDER BY p.id FOR UPDATE OF p`,
    [orderId],
  );
}
