import type { Pool } from '../lib/db/pool';
import { inventoryActivities } from './inventory/activities';
import { notificationActivities } from './notifications/activities';
import { orderRecordActivities } from './orders/activities';
import { paymentActivities } from './payments/activities';
import type { SimulatedServices } from './simulation';

/** Every activity the order saga calls, bound to one pool and one set of simulated services. */
export function createActivities(pool: Pool, services: SimulatedServices) {
  return {
    ...orderRecordActivities(pool),
    ...inventoryActivities(pool, services.inventory, services.random),
    ...paymentActivities(pool, services.payment, services.random),
    ...notificationActivities(pool, services.notify, services.random),
  };
}

export type OrderActivities = ReturnType<typeof createActivities>;
