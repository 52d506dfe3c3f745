import type { Queryable } from '../lib/db/pool';
import type { OrderRef } from '../workflows/types';

export type NotificationType = 'order_confirmed';

/** Records a sent notification; the primary key (order, type) makes a repeat change nothing. */
export async function recordNotification(db: Queryable, ref: OrderRef, type: NotificationType): Promise<void> {
  await db.query(`INSERT INTO notifications (order_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [ref.orderId, type]);
}
