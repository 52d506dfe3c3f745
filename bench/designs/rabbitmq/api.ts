import amqp from 'amqplib';
import express from 'express';
import { errorHandler } from '../../../api/errors';
import { orderFromRequest } from '../order-intake';
import { baselineRuntime, closeOnSigterm, runProcess } from '../runtime';
import { EXCHANGE, RABBITMQ_URL, ROUTING_KEY, declareTopology } from './topology';

/**
 * Baseline 2, the producer: record the order, publish `order.created` as a
 * persistent message on a confirm channel, answer 202 once the broker confirmed.
 */
async function main(): Promise<void> {
  const { config, pool, steps, logger } = baselineRuntime('bench-rabbitmq-api');
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createConfirmChannel();
  await declareTopology(channel);

  const app = express();
  app.use(express.json());
  app.post('/api/orders', async (req, res) => {
    const order = await orderFromRequest(pool, req);
    await steps.recordOrder(order);
    const message = Buffer.from(JSON.stringify({ orderId: order.orderId, amountCents: order.amountCents }));
    await new Promise<void>((resolve, reject) =>
      channel.publish(
        EXCHANGE,
        ROUTING_KEY,
        message,
        { persistent: true, contentType: 'application/json', messageId: order.orderId },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    res.status(202).json({ orderId: order.orderId, status: 'PENDING' });
  });
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use(errorHandler(logger));
  const server = app.listen(config.PORT, () => logger.info({ port: config.PORT }, 'rabbitmq baseline api listening'));
  closeOnSigterm(
    () => new Promise((resolve) => server.close(resolve)),
    () => channel.close(),
    () => connection.close(),
    () => pool.end(),
  );
}

runProcess(main);
