import { createServer, type Server } from 'node:http';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startTracing, type Tracing } from '../../lib/telemetry/tracing';

/**
 * One order, from its HTTP request to the SQL its activities run, is one trace:
 * the API's server span is the root; StartWorkflow, the workflow's span, every
 * activity and their PostgreSQL queries hang below it. API, Temporal client and
 * worker run in this process, with the entry points' wiring, exporting to memory.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let server: Server;
let baseUrl: string;
let stop: () => Promise<void>;
let client: import('@temporalio/client').Client;

beforeAll(async () => {
  tracing = startTracing('order-saga-test', new SimpleSpanProcessor(exporter));
  // Loaded only now, as the entry points load them after api/tracing.ts: the
  // instrumentations patch pg and http as they are required.
  const { loadConfig } = await import('../../lib/config');
  const { createPool } = await import('../../lib/db/pool');
  const { Client, Connection } = await import('@temporalio/client');
  const { NativeConnection, Worker } = await import('@temporalio/worker');
  const { tracingClientInterceptors } = await import('../../lib/telemetry/temporal');
  const { temporalOrderWorkflows } = await import('../../api/orders/workflow-gateway');
  const { orderWorkerOptions } = await import('../../worker/options');
  const { buildIdFor, makeCurrentVersion } = await import('../../lib/temporal/deployment');
  const { readFileSync } = await import('node:fs');
  const { testApp } = await import('../support/app');
  const { freshProduct } = await import('../support/db');

  const { databaseUrl, temporalAddress, workflowBundlePath } = inject('testEnv');
  const config = loadConfig({ TEMPORAL_TASK_QUEUE: `tracing-${process.pid}`, DATABASE_URL: databaseUrl });
  const pool = createPool(databaseUrl, 5);
  await freshProduct(pool, { id: 'sku-traced' });

  const connection = await Connection.connect({ address: temporalAddress });
  client = new Client({ connection, interceptors: tracingClientInterceptors(tracing) });
  server = createServer(testApp(pool, temporalOrderWorkflows(client, config.TEMPORAL_TASK_QUEUE)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const workerConnection = await NativeConnection.connect({ address: temporalAddress });
  // The pre-built bundle, as production workers load it; a deployment of its own, so no other test's version is current here.
  const code = readFileSync(workflowBundlePath, 'utf8');
  const version = { deploymentName: `tracing-${process.pid}`, buildId: buildIdFor(code) };
  const worker = await Worker.create({ connection: workerConnection, ...orderWorkerOptions(config, pool, code, version) });
  const running = worker.run();
  await makeCurrentVersion(client, version);
  stop = async () => {
    worker.shutdown();
    await running;
    await new Promise((resolve) => server.close(resolve));
    await pool.end();
    await workerConnection.close();
    await connection.close();
  };
});

afterAll(async () => {
  await stop?.();
  await tracing?.shutdown();
});

it('puts the API request, StartWorkflow, the workflow, each activity and its SQL in one trace', async () => {
  const { call, untilTerminal } = await import('../support/http');
  const { waitFor } = await import('../support/stack');
  const created = await call(baseUrl, 'POST', '/api/orders', { customerId: 'c-traced', items: [{ productId: 'sku-traced', quantity: 1 }] });
  expect(created.status).toBe(202);
  expect((await untilTerminal(baseUrl, created.body.orderId)).status).toBe('COMPLETED');

  const root = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER && s.name === 'POST /api/orders');
  expect(root, 'the API server span').toBeDefined();
  const traceId = root!.spanContext().traceId;
  const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  // Workflow spans arrive through the worker's sink, after the activation that ended them.
  const spans = await waitFor('the workflow span', async () =>
    inTrace().some((s) => s.name === 'RunWorkflow:orderSaga') ? inTrace() : undefined,
  );

  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const parentOf = (s: ReadableSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
  const ancestors = (s: ReadableSpan): string[] => {
    const names: string[] = [];
    for (let p = parentOf(s); p; p = parentOf(p)) names.push(p.name);
    return names;
  };
  const named = (name: string) => spans.filter((s) => s.name === name);

  // One root, and every span of the trace reaches it.
  expect(spans.filter((s) => !s.parentSpanId)).toEqual([root]);
  for (const span of spans) if (span !== root) expect(ancestors(span).at(-1), span.name).toBe('POST /api/orders');

  const [start] = named('StartWorkflow:orderSaga');
  expect(start && parentOf(start)).toBe(root);
  const [workflow] = named('RunWorkflow:orderSaga');
  expect(workflow && parentOf(workflow)).toBe(start);

  const activities = spans.filter((s) => s.name.startsWith('RunActivity:')).map((s) => s.name.slice('RunActivity:'.length));
  expect(activities).toEqual(expect.arrayContaining(['claimAndReserve', 'chargePayment', 'completeOrder', 'sendNotification']));
  for (const run of spans.filter((s) => s.name.startsWith('RunActivity:'))) {
    expect(ancestors(run), run.name).toContain('RunWorkflow:orderSaga');
    const sql = spans.filter((s) => s.name.startsWith('pg.query') && ancestors(s).includes(run.name));
    expect(sql.length, `SQL spans under ${run.name}`).toBeGreaterThan(0);
    // No bound parameters in spans: they hold customer data.
    expect(JSON.stringify(sql.map((s) => s.attributes))).not.toContain('c-traced');
  }
  // The API's own SQL (pricing, the order row) is under the request span too.
  expect(spans.some((s) => s.name.startsWith('pg.query') && !ancestors(s).includes('RunWorkflow:orderSaga'))).toBe(true);
});

it('replays a traced history on a worker without tracing, and the history carries the trace context', async () => {
  const { call, untilTerminal } = await import('../support/http');
  const { Worker } = await import('@temporalio/worker');
  const { tracingWorkerOptions } = await import('../../lib/telemetry/temporal');
  const created = await call(baseUrl, 'POST', '/api/orders', { customerId: 'c-traced', items: [{ productId: 'sku-traced', quantity: 1 }] });
  await untilTerminal(baseUrl, created.body.orderId);
  const history = await client.workflow.getHandle(`order-${created.body.orderId}`).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(Object.keys(started?.header?.fields ?? {})).toContain('_tracer-data');
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: inject('testEnv').workflowBundlePath }, sinks: tracingWorkerOptions(undefined).sinks },
    history,
  );
});

it('the workflow side looks for the header the client interceptor writes', async () => {
  const { TRACE_HEADER } = await import('@temporalio/interceptors-opentelemetry/lib/instrumentation');
  const ours = await import('../../lib/telemetry/workflow-interceptors');
  expect(ours.TRACE_HEADER).toBe(TRACE_HEADER);
});
