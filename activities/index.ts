import type { Pool } from '../lib/db/pool';
import { inventoryActivities } from './inventory/activities';
import { notificationActivities } from './notifications/activities';
import { orderRecordActivities } from './orders/activities';
import { paymentActivities } from './payments/activities';
import type { PaymentProvider } from '../providers/payment-provider';
import { SimulatedPaymentProvider } from '../providers/simulated-payment-provider';
import type { SimulatedServices } from '../providers/simulated-services';

/**
 * Every activity the order saga calls, bound to one pool and one set of simulated
 * services. `paymentProvider` replaces the simulated one (tests, a real provider).
 */
export function createActivities(pool: Pool, services: SimulatedServices, paymentProvider?: PaymentProvider) {
  const provider = paymentProvider ?? new SimulatedPaymentProvider(pool, services.payment, services.random);
  const records = orderRecordActivities(pool);
  const inventory = inventoryActivities(pool, services.inventory, services.random);
  const payments = paymentActivities(pool, provider);
  const notifications = notificationActivities(pool, services.notify, services.random);
  return { ...records, ...inventory, ...payments, ...notifications };
}

export type OrderActivities = ReturnType<typeof createActivities>;

/**
 * The saga's proxies are typed by what each may call, so that, say, a charge
 * cannot be scheduled through the local-activity proxy meant for database writes.
 */
export type OrderRecordActivities = Pick<
  OrderActivities,
  'claimOrder' | 'recordOrder' | 'completeOrder' | 'markCompensating' | 'finishOrder'
>;
export type CompensationActivities = Pick<OrderActivities, 'releaseInventory' | 'refundPayment'>;
export type InventoryStepActivities = Pick<OrderActivities, 'reserveInventory' | 'claimAndReserve'>;
export type PaymentStepActivities = Pick<OrderActivities, 'chargePayment'>;
export type NotificationStepActivities = Pick<OrderActivities, 'sendNotification'>;
