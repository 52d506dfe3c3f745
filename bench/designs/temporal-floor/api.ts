import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { temporalOrderWorkflows } from '../../../api/orders/workflow-gateway';
import { loadConfig } from '../../../lib/config';
import { connectionOptions } from '../../../lib/temporal/connection';
import { orderDataConverter } from '../../../lib/temporal/data-converter';
import { requestHash } from '../../../api/orders/order-service';
import type { CreateOrderBody } from '../../../api/schemas';
import type { OrderInput } from '../../../workflows/types';
import { closeOnSigterm, runProcess } from '../runtime';

/**
 * The floor design's API: starts the saga as the API does (the same client,
 * workflow gateway and start options, an input of the same fields and size)
 * and answers 202, with no validation, database, fence or log line around the
 * start. GET /healthz for the benchmark. Not a service: it trusts its one caller.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await Connection.connect(connectionOptions(config.temporal));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: orderDataConverter(config.PAYLOAD_ENCRYPTION_KEYS) });
  const workflows = temporalOrderWorkflows(client, config.TEMPORAL_TASK_QUEUE);

  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') return void res.writeHead(200).end('ok');
    if (req.method !== 'POST' || req.url !== '/api/orders') return void res.writeHead(404).end();
    try {
      const parsed = JSON.parse(await readBody(req)) as Omit<CreateOrderBody, 'paymentMethod'> & { paymentMethod?: string };
      const body: CreateOrderBody = { ...parsed, paymentMethod: parsed.paymentMethod ?? 'pm_card_visa' };
      // The benchmark's prices (bench/database.ts) are not looked up: one price for every unit.
      const items = body.items.map((line) => ({ ...line, priceCents: 1000 }));
      const input: OrderInput = {
        orderId: randomUUID(),
        customerId: body.customerId,
        items,
        amountCents: items.reduce((sum, line) => sum + line.priceCents * line.quantity, 0),
        paymentMethod: body.paymentMethod,
        attempt: 1,
        idempotencyKey: null,
        requestHash: requestHash(body),
        paymentBudgetMs: config.PAYMENT_BUDGET_MS,
        startToken: randomUUID(),
      };
      await workflows.start(input);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ orderId: input.orderId, status: 'PENDING' }));
    } catch (err) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
    }
  });
  server.keepAliveTimeout = 65_000;
  server.listen(config.PORT, '127.0.0.1');
  closeOnSigterm(
    () => new Promise((resolve) => server.close(resolve)),
    () => connection.close(),
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

runProcess(main);
