import type { Channel } from 'amqplib';

/**
 * The RabbitMQ design of the problem statement: a topic exchange `orders`, one
 * durable queue per service bound to `order.created`, and a dead-letter exchange
 * that rejected messages go to.
 */
export const EXCHANGE = 'orders';
export const ROUTING_KEY = 'order.created';
export const DEAD_LETTER_EXCHANGE = 'dlx';
export const DEAD_LETTER_QUEUE = 'dead_letter_queue';
export const STEPS = ['inventory', 'payment', 'notification'] as const;
export type Step = (typeof STEPS)[number];
export const QUEUE: Record<Step, string> = {
  inventory: 'inventory_queue',
  payment: 'payment_queue',
  notification: 'notify_queue',
};

export async function declareTopology(ch: Channel): Promise<void> {
  await ch.assertExchange(EXCHANGE, 'topic', { durable: true });
  await ch.assertExchange(DEAD_LETTER_EXCHANGE, 'direct', { durable: true });
  await ch.assertQueue(DEAD_LETTER_QUEUE, { durable: true });
  await ch.bindQueue(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, 'dead_letter');
  for (const step of STEPS) {
    await ch.assertQueue(QUEUE[step], {
      durable: true,
      arguments: { 'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE, 'x-dead-letter-routing-key': 'dead_letter' },
    });
    await ch.bindQueue(QUEUE[step], EXCHANGE, ROUTING_KEY);
  }
}

/** Empties every queue of the design, so a run starts without an earlier run's messages. */
export async function purgeTopology(ch: Channel): Promise<void> {
  for (const q of [...Object.values(QUEUE), DEAD_LETTER_QUEUE]) await ch.purgeQueue(q);
}

export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
