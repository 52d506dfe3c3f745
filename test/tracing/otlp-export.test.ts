import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshProduct, testPool } from '../support/db';
import { call, untilTerminal } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';
import type { Pool } from '../../lib/db/pool';

/**
 * The production path: `npm run api` and `npm run worker` as child processes with
 * OTEL_EXPORTER_OTLP_ENDPOINT set export their spans over OTLP/HTTP, here to a
 * receiver in the test, and the order's spans from both processes share one trace.
 */

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  parentSpanId?: string;
}

const received: ReceivedSpan[] = [];
let receiver: Server;
let stack: Stack;
let pool: Pool;

/** OTLP/HTTP JSON: resourceSpans[].resource.attributes and .scopeSpans[].spans[]. */
function collect(body: string): void {
  type Attribute = { key: string; value: { stringValue?: string } };
  const request = JSON.parse(body) as {
    resourceSpans: { resource: { attributes: Attribute[] }; scopeSpans: { spans: { name: string; traceId: string; parentSpanId?: string }[] }[] }[];
  };
  for (const { resource, scopeSpans } of request.resourceSpans) {
    const service = resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
    for (const { spans } of scopeSpans) for (const span of spans) received.push({ service, ...span });
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') collect(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  pool = testPool();
  await freshProduct(pool, { id: 'sku-otlp' });
  stack = await startStack('otlp', { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' });
});

afterAll(async () => {
  await stack?.stop();
  await pool?.end();
  await new Promise((resolve) => receiver?.close(resolve));
});

it('exports one trace per order from the API and the worker over OTLP', async () => {
  const created = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-otlp', items: [{ productId: 'sku-otlp', quantity: 1 }] });
  expect(created.status).toBe(202);
  await untilTerminal(stack.baseUrl, created.body.orderId);
  const root = await waitFor('the API span', async () => received.find((s) => s.name === 'POST /api/orders' && !s.parentSpanId));
  const trace = await waitFor('the last activity span', async () => {
    const spans = received.filter((s) => s.traceId === root.traceId);
    return spans.some((s) => s.name === 'RunActivity:sendNotification') && spans.some((s) => s.name === 'RunWorkflow:orderSaga') ? spans : undefined;
  });
  expect(trace.find((s) => s.name === 'StartWorkflow:orderSaga')?.service).toBe('order-saga-api');
  expect(trace.find((s) => s.name === 'RunWorkflow:orderSaga')?.service).toBe('order-saga-worker');
  // SQL from both processes, in the same trace.
  const sqlBy = new Set(trace.filter((s) => s.name.startsWith('pg.query')).map((s) => s.service));
  expect([...sqlBy].sort()).toEqual(['order-saga-api', 'order-saga-worker']);
  expect(trace.filter((s) => !s.parentSpanId)).toHaveLength(1);
});
