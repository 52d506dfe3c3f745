import type { Pool } from '../../lib/db/pool';
import { callService, type ServiceBehaviour } from '../../providers/simulated-services';
import { recordNotification, type NotificationType } from '../../store/notifications';
import type { OrderRef } from '../../workflows/types';
import { providerCall } from '../heartbeats';

/**
 * Sends a notification at most once per order and type: the primary key of
 * `notifications` is the idempotency key of the simulated e-mail provider.
 */
export function notificationActivities(pool: Pool, behaviour: ServiceBehaviour, random?: () => number) {
  return {
    async sendNotification(ref: OrderRef, type: NotificationType): Promise<void> {
      await providerCall((signal) => callService('notification', behaviour, random, signal));
      await recordNotification(pool, ref, type);
    },
  };
}
