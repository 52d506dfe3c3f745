import { loadConfig, requireDatabaseUrl } from '../../lib/config';
import { createPool, inTransaction, type Pool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';
import { paymentIdempotencyKey } from '../../providers/payment-provider';
import { SimulatedPaymentProvider } from '../../providers/simulated-payment-provider';
import { callService, type SimulatedServices } from '../../providers/simulated-services';
import { insertOrder } from '../../store/orders';
import { recordNotification } from '../../store/notifications';
import { amountToCharge, recordCharge } from '../../store/payments';
import { OutOfStockError, completeOrder, reserveStock } from '../../store/stock';
import { simulatedServices } from '../../worker/options';
import type { FailureReason, OrderInput, OrderRef } from '../../workflows/types';

/** Runs a benchmark process's main; any failure is printed and ends the process. */
export function runProcess(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/** On SIGTERM, runs `steps` in order (closing server, connections, pool), then exits. */
export function closeOnSigterm(...steps: Array<() => Promise<unknown>>): void {
  process.once('SIGTERM', async () => {
    for (const step of steps) await step().catch(() => undefined);
    process.exit(0);
  });
}

/** A step failed for a business reason: the order cannot succeed, retrying is pointless. */
export class BusinessFailure extends Error {
  constructor(
    readonly reason: Extract<FailureReason, 'OUT_OF_STOCK' | 'PAYMENT_DECLINED'>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The order steps as a baseline runs them: the same data layer (store/) and the
 * same simulated services and payment provider (providers/) that the saga's
 * activities call, without Temporal around them. A BusinessFailure ends the
 * order; any other error is transient (a service's simulated failure, a busy
 * database) and the design decides whether to retry.
 */
export function baselineSteps(pool: Pool, services: SimulatedServices) {
  const provider = new SimulatedPaymentProvider(pool, services.payment, services.random);
  return {
    recordOrder: (order: OrderInput) => inTransaction(pool, (tx) => insertOrder(tx, order)),
    async reserve(ref: OrderRef): Promise<void> {
      await callService('inventory', services.inventory, services.random);
      await reserveStock(pool, ref).catch((err: unknown) => {
        throw err instanceof OutOfStockError ? new BusinessFailure('OUT_OF_STOCK', err.message) : err;
      });
    },
    async charge(ref: OrderRef): Promise<void> {
      const order = await amountToCharge(pool, ref);
      if (!order) throw new Error(`Order ${ref.orderId} attempt ${ref.attempt} not found`);
      const outcome = await provider.charge({ idempotencyKey: paymentIdempotencyKey(ref), ...order }, new AbortController().signal);
      if (outcome.status === 'DECLINED') throw new BusinessFailure('PAYMENT_DECLINED', outcome.message);
      // No baseline refunds, so no key is ever cancelled before its charge.
      if (outcome.status === 'CANCELED') throw new Error(`Payment of order ${ref.orderId} was cancelled`);
      await recordCharge(pool, ref, outcome.amountCents);
    },
    complete: (ref: OrderRef) => completeOrder(pool, ref),
    async notify(ref: OrderRef): Promise<void> {
      await callService('notification', services.notify, services.random);
      await recordNotification(pool, ref, 'order_confirmed');
    },
  };
}

/**
 * The pieces each baseline process shares with this service: the same config
 * variables, the same pool, the same domain code (baselineSteps) with the same
 * simulated latencies and failures.
 */
export function baselineRuntime(component: string) {
  const config = loadConfig();
  const pool = createPool(requireDatabaseUrl(config, 'a benchmark design'), config.PG_POOL_SIZE);
  const steps = baselineSteps(pool, simulatedServices(config));
  return { config, pool, steps, logger: createLogger(component, config.LOG_LEVEL) };
}
