import amqp from 'amqplib';
import type { FailureReason } from '../../../workflows/types';
import { BusinessFailure, baselineRuntime, closeOnSigterm, runProcess } from '../runtime';
import { QUEUE, STEPS, RABBITMQ_URL, declareTopology, type Step } from './topology';

/**
 * Baseline 2, one consumer (CONSUMER=inventory|payment|notification), as the
 * problem statement writes it: it consumes its own queue with manual ack, acks
 * on success, nacks with requeue on a transient error and, as the usual fix
 * adds, rejects business failures to the dead-letter exchange. The three
 * consumers run independently: the payment consumer does not know whether the
 * inventory consumer reserved anything. No compensation exists.
 *
 * Unlike the original's one-message-at-a-time blocking consumer, it works on up
 * to RABBIT_PREFETCH messages at once, as this service's worker does with its
 * default of 100 concurrent activities.
 *
 * To tell when an order is finished (for the benchmark's accept-to-final time),
 * each consumer records its outcome in bench_rabbit_steps; the one that records
 * the third outcome writes COMPLETED, or FAILED with the first failure's reason.
 */
const step = process.env.CONSUMER as Step;
if (!STEPS.includes(step)) throw new Error(`CONSUMER must be one of ${STEPS.join(', ')}`);

async function main(): Promise<void> {
  const { pool, steps, logger } = baselineRuntime(`bench-rabbitmq-${step}`);
  const run: Record<Step, (orderId: string) => Promise<void>> = {
    inventory: (orderId) => steps.reserve({ orderId, attempt: 1 }),
    payment: (orderId) => steps.charge({ orderId, attempt: 1 }),
    notification: (orderId) => steps.notify({ orderId, attempt: 1 }),
  };

  const record = async (orderId: string, ok: boolean, reason: FailureReason | null) => {
    await pool.query(
      `INSERT INTO bench_rabbit_steps (order_id, step, ok, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [orderId, step, ok, reason],
    );
    await pool.query(
      `WITH s AS (SELECT count(*) AS n, bool_and(ok) AS all_ok, min(reason) FILTER (WHERE NOT ok) AS reason
                  FROM bench_rabbit_steps WHERE order_id = $1)
       UPDATE orders SET status = CASE WHEN s.all_ok THEN 'COMPLETED' ELSE 'FAILED' END,
                         failure_reason = CASE WHEN s.all_ok THEN NULL ELSE s.reason END, updated_at = now()
       FROM s WHERE orders.id = $1 AND s.n = 3`,
      [orderId],
    );
  };

  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createChannel();
  await declareTopology(channel);
  await channel.prefetch(Number(process.env.RABBIT_PREFETCH ?? 100));
  await channel.consume(
    QUEUE[step],
    (msg) => {
      if (!msg) return;
      const { orderId } = JSON.parse(msg.content.toString()) as { orderId: string };
      run[step](orderId)
        .then(
          async () => {
            await record(orderId, true, null);
            channel.ack(msg);
          },
          async (err: unknown) => {
            const reason: FailureReason | null = err instanceof BusinessFailure ? err.reason : null;
            if (reason) {
              await record(orderId, false, reason);
              channel.nack(msg, false, false); // to the dead-letter queue
            } else {
              channel.nack(msg, false, true); // requeue and try again
            }
          },
        )
        // Recording the outcome failed (database busy): let the message come back.
        .catch(() => channel.nack(msg, false, true));
    },
    { noAck: false },
  );
  logger.info({ queue: QUEUE[step] }, 'consumer started');
  closeOnSigterm(
    () => channel.close(),
    () => connection.close(),
    () => pool.end(),
  );
}

runProcess(main);
