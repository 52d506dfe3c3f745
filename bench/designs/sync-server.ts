import express from 'express';
import { errorHandler, HttpError } from '../../api/errors';
import { orderFromRequest } from './order-intake';
import { BusinessFailure, baselineRuntime, closeOnSigterm } from './runtime';

/**
 * Baseline 1, the problem statement's original API: create the order, then call
 * inventory, payment and notification one after the other, and answer when all
 * three are done. Like the original, a failed step returns an error and undoes
 * nothing: stock reserved before a failed payment stays reserved, and the order
 * row stays where the failure left it.
 */
const { config, pool, steps, logger } = baselineRuntime('bench-sync');
const app = express();
app.use(express.json());

app.post('/api/orders', async (req, res) => {
  const order = await orderFromRequest(pool, req);
  const ref = { orderId: order.orderId, attempt: 1 };
  await steps.recordOrder(order);
  try {
    await steps.reserve(ref);
    await steps.charge(ref);
    await steps.complete(ref);
    await steps.notify(ref);
  } catch (err) {
    const reason = err instanceof BusinessFailure ? err.reason : undefined;
    if (reason === 'OUT_OF_STOCK') throw new HttpError(409, 'OUT_OF_STOCK', 'Out of stock');
    if (reason === 'PAYMENT_DECLINED') throw new HttpError(402, 'PAYMENT_DECLINED', 'Payment declined');
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
