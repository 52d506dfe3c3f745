import type { Pool } from '../../lib/db/pool';
import type { OrderRef } from '../../workflows/types';
import { callService, providerCall, type ServiceBehaviour } from '../simulation';

export type NotificationType = 'order_confirmed';

/**
 * Sends a notification at most once per order and type: the primary key of
 * `notifications` is the idempotency key of the simulated e-mail provider.
 */
export function notificationActivities(pool: Pool, behaviour: ServiceBehaviour, random?: () => number) {
  return {
    async sendNotification(ref: OrderRef, type: NotificationType): Promise<void> {
      await providerCall((signal) => callService('notification', behaviour, random, signal));
      await pool.query(`INSERT INTO notifications (order_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
        ref.orderId,
        type,
      ]);
    },
  };
}
