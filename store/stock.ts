import { inTransaction, type Pool, type PoolClient } from '../lib/db/pool';
import type { OrderRef } from '../workflows/types';
import { OrderStateConflictError, moveOrder, transition } from './orders';

/** Some line of the order wants more than is on hand and not yet reserved. */
export class OutOfStockError extends Error {}

/**
 * Reserves every line's quantity from what is on hand and not yet reserved,
 * in one transaction, all or none, and moves the order to RESERVED in the same
 * transaction. The reservation row makes a retry (or a run after release)
 * change nothing. When a line cannot be met it throws OutOfStockError and
 * the transaction rolls back: nothing is reserved.
 */
export async function reserveStock(pool: Pool, ref: OrderRef): Promise<void> {
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
         UPDATE products p SET reserved = p.reserved + w.quantity, updated_at = now()
         FROM wanted w WHERE p.id = w.product_id AND p.on_hand - p.reserved >= w.quantity
         RETURNING p.id
       )
       SELECT product_id FROM wanted WHERE product_id NOT IN (SELECT id FROM taken)`,
      [ref.orderId],
    );
    if (short.rowCount) {
      const ids = short.rows.map((r) => r.product_id).join(', ');
      // Throwing rolls back the whole transaction: no partial reservation survives.
      throw new OutOfStockError(`Out of stock: ${ids}`);
    }
    await transition(tx, ref, ['PENDING'], 'RESERVED');
  });
}

/**
 * Gives the reserved quantities back. Safe to run any number of times, and
 * before the reservation: it leaves a RELEASED row that a late reserve sees.
 * After completion (COMMITTED) it does nothing: sold goods stay sold.
 */
export async function releaseStock(pool: Pool, ref: OrderRef): Promise<void> {
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
      `UPDATE products p SET reserved = p.reserved - i.quantity, updated_at = now()
       FROM (SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id) i
       WHERE p.id = i.product_id`,
      [ref.orderId],
    );
  });
}

/** Moves a PAID order to COMPLETED: one transaction, so an order is COMPLETED exactly when its goods have left the shelf. */
export async function completeOrder(pool: Pool, ref: OrderRef): Promise<void> {
  await inTransaction(pool, async (tx) => {
    await moveOrder(tx, ref, ['PAID'], 'COMPLETED');
    await commitReservation(tx, ref);
  });
}

/**
 * Consumes the reservation of a completed order: its quantities leave the shelf
 * and stop being held. Call it in the transaction that moves the order to
 * COMPLETED. It acts only while this attempt's order is COMPLETED and its
 * reservation still RESERVED; a repeat finds the reservation COMMITTED, changes
 * nothing and returns false. Anything else (the reservation RELEASED or missing,
 * or the order not COMPLETED) is a drift between the database and the workflow:
 * it throws OrderStateConflictError, as moveOrder does, so that the transaction
 * rolls back instead of completing an order whose goods never left the shelf,
 * and the local activity retries, logged, until an operator looks.
 */
export async function commitReservation(tx: PoolClient, ref: OrderRef): Promise<boolean> {
  const committed = await tx.query(
    `UPDATE inventory_reservations r SET status = 'COMMITTED', committed_at = now()
     FROM orders o
     WHERE r.order_id = $1 AND r.attempt = $2 AND r.status = 'RESERVED'
       AND o.id = r.order_id AND o.attempt = r.attempt AND o.status = 'COMPLETED'`,
    [ref.orderId, ref.attempt],
  );
  if (committed.rowCount === 0) {
    const found = await tx.query<{ status: string }>(
      `SELECT status FROM inventory_reservations WHERE order_id = $1 AND attempt = $2`,
      [ref.orderId, ref.attempt],
    );
    const status = found.rows[0]?.status;
    if (status === 'COMMITTED') return false;
    throw new OrderStateConflictError(
      `Order ${ref.orderId} attempt ${ref.attempt}: completing it, its reservation is ${status ?? 'missing'}, ` +
        `not RESERVED (or COMMITTED by an earlier try)`,
    );
  }
  await lockOrderProducts(tx, ref.orderId);
  await tx.query(
    `UPDATE products p SET on_hand = p.on_hand - i.quantity, reserved = p.reserved - i.quantity, updated_at = now()
     FROM (SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id) i
     WHERE p.id = i.product_id`,
    [ref.orderId],
  );
  return true;
}

/**
 * Locks the order's product rows in id order before changing stock, so that two
 * multi-item orders touching the same products cannot deadlock each other.
 *
 * FOR NO KEY UPDATE, not FOR UPDATE: it still excludes the other stock writers
 * (and the stock count's upsert), but not the FOR KEY SHARE that the foreign key
 * of a new order's lines takes on the product, so a stock writer that stalls
 * does not hold up POST /api/orders for that product. The UPDATEs that follow
 * take the same mode as long as they leave `id`, the table's only key, alone.
 */
async function lockOrderProducts(tx: PoolClient, orderId: string): Promise<void> {
  await tx.query(
    `SELECT p.id FROM products p JOIN order_items i ON i.product_id = p.id
     WHERE i.order_id = $1 ORDER BY p.id FOR NO KEY UPDATE OF p`,
    [orderId],
  );
}
