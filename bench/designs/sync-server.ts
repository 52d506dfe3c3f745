import express from 'express';
import { ApplicationFailure } from '@temporalio/common';
import { errorHandler, HttpError } from '../../api/errors';
import { ErrorType } from '../../workflows/types';
import { orderFromRequest } from './order-intake';
import { baselineRuntime, closeOnSigterm } from './runtime';

/**
 * Baseline 1, the problem statement's original API: create the order, then call
 * inventory, payment and notification one after the other, and answer when all
 * three are done. Like the original, a failed step returns an error and undoes
 * nothing: stock reserved before a failed payment stays reserved, and the order
 * row stays where the failure left it.
 */
const { config, pool, domain, logger } = baselineRuntime('bench-sync');
const app = express();
app.use(express.json());

app.post('/api/orders', async (req, res) => {
  const order = await orderFromRequest(pool, req);
  const ref = { orderId: order.orderId, attempt: 1 };
  await domain.recordOrder(order);
  try {
    await domain.reserveInventory(ref);
    await domain.chargePayment(ref);
    await domain.completeOrder(ref);
    await domain.sendNotification(ref, 'order_confirmed');
  } catch (err) {
    const type = err instanceof ApplicationFailure ? err.type : undefined;
    if (type === ErrorType.OutOfStock) throw new HttpError(409, 'OUT_OF_STOCK', 'Out of stock');
    if (type === ErrorType.PaymentDeclined) throw new HttpError(402, 'PAYMENT_DECLINED', 'Payment declined');
    throw new HttpError(502, 'UPSTREAM_FAILED', 'A downstream service failed');
  }
  res.status(201).json({ orderId: order.orderId, status: 'COMPLETED' });
});
app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
app.use(errorHandler(logger));

const server = app.listen(config.PORT, () => logger.info({ port: config.PORT }, 'sync baseline listening'));
server.keepAliveTimeout = 65_000;
closeOnSigterm(
  () => new Promise((resolve) => server.close(resolve)),
  () => pool.end(),
);
