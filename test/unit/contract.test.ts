import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Express } from 'express';
import request, { type Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../../api/app';
import { TemporalUnavailableError, WorkflowClosedError, type OrderWorkflows } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { recordingWorkflows, testApp } from '../support/app';
import { freshProduct, testPool } from '../support/db';
import { hookQueries } from '../support/query-hook';

/**
 * The served contract against what the app answers: each route's error paths (bad
 * bodies, unknown and malformed ids, wrong methods, 401 with keys, 429, 503 with a
 * fake Temporal, the 409s, 500s from a failing database) are driven through the real
 * Express app, and every answer must be a status that GET /openapi.json of that same
 * app lists for the operation, with a body valid against that status's schema. The
 * document is read from the running app in each mode (no API_KEYS, API_KEYS), so it
 * is the one a client gets. Finally every status and code the document declares must
 * have been seen, except the few named below that these fakes cannot produce.
 */

interface OpenApi {
  paths: Record<string, Record<string, Operation | undefined>>;
  components?: { securitySchemes?: Record<string, unknown> };
}
interface Operation {
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema?: ErrorSchema }>; headers?: Record<string, unknown> }>;
}
/** Just enough of an error answer's JSON Schema to read the codes it allows. */
interface ErrorSchema {
  properties?: { error?: { properties?: { code?: { enum?: string[] } } } };
}

type Mode = 'open' | 'keyed';
const KEYS = ['shop=shop-key', 'ops:admin=admin-key'];
const SHOP = { Authorization: 'Bearer shop-key' };
const ADMIN = { Authorization: 'Bearer admin-key' };
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options'] as const;
const UNKNOWN_ORDER = '00000000-0000-4000-8000-000000000000';

let pool: Pool;
const served: Partial<Record<Mode, { doc: OpenApi; ajv: Ajv2020 }>> = {};
/** "POST /api/orders 503 OVERLOADED": every answer this file checked, in either mode. */
const seen = new Set<string>();

beforeAll(async () => {
  pool = testPool();
  for (const mode of ['open', 'keyed'] as const) {
    const res = await request(build(mode)).get('/openapi.json');
    expect(res.status).toBe(200);
    // Ajv validates the document's JSON Schemas (2020-12, OpenAPI 3.1's dialect); OpenAPI adds keywords such as `example`.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(res.body as object, `${mode}.json`);
    served[mode] = { doc: res.body as OpenApi, ajv };
  }
});
afterAll(async () => {
  await pool.end();
});

function build(mode: Mode, overrides: Partial<AppDeps> = {}): Express {
  return testApp(pool, recordingWorkflows().workflows, {
    apiKeys: mode === 'keyed' ? KEYS : [],
    rateLimitPerMinute: 0,
    ...overrides,
  });
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map<string, ValidateFunction>();

/** The answer's status is one the served document lists for `method path`, and its body is valid for that status. */
function expectDocumented(mode: Mode, method: string, path: string, res: Response): void {
  const { doc, ajv } = served[mode]!;
  const what = `${mode}: ${method.toUpperCase()} ${path} answered ${res.status} ${res.text?.slice(0, 300)}`;
  const operation = doc.paths[path]?.[method];
  expect(operation, `${what}: the document has no such operation`).toBeDefined();
  const response = operation!.responses[String(res.status)];
  expect(response, `${what}: the document lists no ${res.status} for it`).toBeDefined();
  const json = response!.content?.['application/json'];
  if (json) {
    expect(res.type, what).toBe('application/json');
    const ref = `${mode}.json#/${pointer('paths', path, method, 'responses', String(res.status), 'content', 'application/json', 'schema')}`;
    let validate = validators.get(ref);
    if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
    expect(validate(res.body), `${what}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  } else {
    expect(Object.keys(response!.content ?? {}), what).toContain(res.type);
  }
  seen.add(`${method.toUpperCase()} ${path} ${res.status} ${res.body?.error?.code ?? '-'}`);
}

/** Sends `send` and checks the answer is `status` (and `code`), and documented. */
async function expectAnswer(
  mode: Mode,
  op: string,
  send: PromiseLike<Response>,
  status: number,
  code?: string,
): Promise<Response> {
  const [method, path] = op.split(' ') as [string, string];
  const res = await send;
  expect(res.status, `${mode} ${op}: ${res.text?.slice(0, 300)}`).toBe(status);
  if (code !== undefined) expect(res.body?.error?.code, `${mode} ${op}`).toBe(code);
  expectDocumented(mode, method.toLowerCase(), path, res);
  return res;
}

/** What pg rejects a statement with when its connection drops (PostgreSQL gone, a network cut). */
const connectionLost = () => new Error('Connection terminated unexpectedly');
/** What PostgreSQL answers a statement it cannot run: here, a schema older than the code. */
const statementRefused = () => Object.assign(new Error('column "start_token" does not exist'), { code: '42703', severity: 'ERROR' });

/**
 * A pool (and its clients) whose queries matching `failing` reject with `error`:
 * by default as when PostgreSQL goes away under them.
 */
function failingPool(failing: RegExp, error: () => Error = connectionLost): Pool {
  return hookQueries(pool, (text, send) => (failing.test(text) ? Promise.reject(error()) : send()));
}

const orderFor = (productId: string, customerId = 'c-contract') => ({ customerId, items: [{ productId, quantity: 1 }] });

async function placed(server: Express, productId: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(server).post('/api/orders').set(headers).send(orderFor(productId));
  expect(res.status, res.text).toBe(202);
  return res.body.orderId as string;
}

describe('every answer is in the served document', () => {
  it('products: reads, writes, bad bodies and ids, 409 STOCK_BELOW_RESERVED', async () => {
    const server = build('open');
    const sku = await freshProduct(pool);
    await expectAnswer('open', 'GET /api/products', request(server).get('/api/products'), 200);
    await expectAnswer('open', 'GET /api/products/{id}', request(server).get(`/api/products/${sku.id}`), 200);
    await expectAnswer('open', 'GET /api/products/{id}', request(server).get('/api/products/sku-none'), 404, 'PRODUCT_NOT_FOUND');
    await expectAnswer('open', 'GET /api/products/{id}', request(server).get('/api/products/-bad'), 404, 'PRODUCT_NOT_FOUND');
    await expectAnswer('open', 'GET /api/products/{id}', request(server).get('/api/products/%zz'), 400, 'MALFORMED_URL');

    const put = (id: string) => request(server).put(`/api/products/${id}`);
    const body = { name: 'Contract', priceCents: 5, stock: 3 };
    await expectAnswer('open', 'PUT /api/products/{id}', put(`${sku.id}-new`).send(body), 201);
    await expectAnswer('open', 'PUT /api/products/{id}', put(`${sku.id}-new`).send(body), 200);
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).send({}), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', 'PUT /api/products/{id}', put('-bad').send(body), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', 'PUT /api/products/{id}', put('%zz').send(body), 400, 'MALFORMED_URL');
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).type('json').send('{"name":'), 400, 'INVALID_JSON');
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).type('json').set('Content-Encoding', 'gzip').send('{}'), 400, 'BAD_REQUEST');
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).type('json').send(JSON.stringify({ ...body, name: 'n'.repeat(70_000) })), 413, 'PAYLOAD_TOO_LARGE');
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).type('json').set('Content-Encoding', 'x-unknown').send('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await pool.query('UPDATE products SET reserved = 2, on_hand = 10 WHERE id = $1', [sku.id]);
    await expectAnswer('open', 'PUT /api/products/{id}', put(sku.id).send({ ...body, stock: 1 }), 409, 'STOCK_BELOW_RESERVED');
    await pool.query('UPDATE products SET reserved = 0 WHERE id = $1', [sku.id]);

    const keyed = build('keyed');
    await expectAnswer('keyed', 'GET /api/products', request(keyed).get('/api/products'), 200);
    await expectAnswer('keyed', 'PUT /api/products/{id}', request(keyed).put(`/api/products/${sku.id}`).send(body), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', 'PUT /api/products/{id}', request(keyed).put(`/api/products/${sku.id}`).set(SHOP).send(body), 403, 'FORBIDDEN');
    await expectAnswer('keyed', 'PUT /api/products/{id}', request(keyed).put(`/api/products/${sku.id}`).set(ADMIN).send(body), 200);
  });

  it('POST /api/orders: accepted, refused bodies, keys, Temporal down or failing, outcome unknown, overloaded', async () => {
    const server = build('open');
    const sku = await freshProduct(pool, { stock: 1_000 });
    const post = (app: Express = server) => request(app).post('/api/orders');
    const op = 'POST /api/orders';
    await expectAnswer('open', op, post().send(orderFor(sku.id)), 202);
    await expectAnswer('open', op, post().send({}), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', op, post().set('Idempotency-Key', 'has space').send(orderFor(sku.id)), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', op, post().type('json').send('{'), 400, 'INVALID_JSON');
    await expectAnswer('open', op, post().type('json').set('Content-Encoding', 'gzip').send('{}'), 400, 'BAD_REQUEST');
    await expectAnswer('open', op, post().type('json').send(`{"customerId":"${'c'.repeat(70_000)}"}`), 413, 'PAYLOAD_TOO_LARGE');
    await expectAnswer('open', op, post().type('json').set('Content-Type', 'application/json; charset=utf-42').send('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectAnswer('open', op, post().send(orderFor('no-such-product')), 422, 'UNKNOWN_PRODUCT');
    const key = `contract-${Date.now()}`;
    await expectAnswer('open', op, post().set('Idempotency-Key', key).send(orderFor(sku.id)), 202);
    await expectAnswer('open', op, post().set('Idempotency-Key', key).send(orderFor(sku.id, 'c-other')), 422, 'IDEMPOTENCY_KEY_REUSED');

    // A twin request while the first one is still starting the order (its row left STARTING): 409 after the wait.
    const twinKey = `${key}-twin`;
    const twinId = await placed(server, sku.id, { 'Idempotency-Key': twinKey });
    await pool.query(`UPDATE orders SET start_state = 'STARTING' WHERE id = $1`, [twinId]);
    await expectAnswer('open', op, post().set('Idempotency-Key', twinKey).send(orderFor(sku.id)), 409, 'REQUEST_IN_PROGRESS');

    const down: OrderWorkflows = { ...recordingWorkflows().workflows, start: async () => Promise.reject(new TemporalUnavailableError('deadline')) };
    await expectAnswer('open', op, post(build('open', { workflows: down })).send(orderFor(sku.id)), 503, 'TEMPORAL_UNAVAILABLE');
    const refused: OrderWorkflows = {
      ...recordingWorkflows().workflows,
      start: async () => Promise.reject(Object.assign(new Error('16 UNAUTHENTICATED'), { code: 16, details: 'expired', metadata: {} })),
    };
    await expectAnswer('open', op, post(build('open', { workflows: refused })).send(orderFor(sku.id)), 503, 'TEMPORAL_START_REFUSED');
    await expectAnswer('open', op, post(build('open', { pool: failingPool(/^WITH o AS/) })).send(orderFor(sku.id)), 503, 'DATABASE_UNAVAILABLE');
    // A read that fails before anything was written: nothing happened.
    const priceless = await expectAnswer('open', op, post(build('open', { pool: failingPool(/FROM products/) })).send(orderFor(sku.id)), 503, 'DATABASE_UNAVAILABLE');
    expect(priceless.body.error.message).toMatch(/nothing was changed/);
    // Temporal does not answer and PostgreSQL refuses the withdrawal: nobody knows whether the order goes ahead.
    const unknown = build('open', { workflows: down, pool: failingPool(/DELETE FROM orders WHERE id = \$1 AND attempt = 1/) });
    await expectAnswer('open', op, post(unknown).send(orderFor(sku.id)), 500, 'OUTCOME_UNKNOWN');

    let release: (() => void) | undefined;
    const held: OrderWorkflows = {
      ...recordingWorkflows().workflows,
      start: () => new Promise((resolve) => (release = () => resolve({ kind: 'STARTED', runId: 'run-1' }))),
    };
    const busy = build('open', { workflows: held, maxOrdersInFlight: 1 }).listen(0);
    try {
      const first = request(busy).post('/api/orders').send(orderFor(sku.id)).then((r) => r); // sent now: supertest is lazy
      while (!release) await new Promise((r) => setTimeout(r, 10));
      const shed = await expectAnswer('open', op, request(busy).post('/api/orders').send(orderFor(sku.id)), 503, 'OVERLOADED');
      expect(shed.headers['retry-after']).toBeDefined();
      release();
      expect((await first).status).toBe(202);
    } finally {
      release?.();
      busy.close();
    }

    const keyed = build('keyed');
    await expectAnswer('keyed', op, post(keyed).send(orderFor(sku.id)), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', op, post(keyed).set('Authorization', 'Bearer wrong').send({}), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', op, post(keyed).set(SHOP).send(orderFor(sku.id)), 202);
    await expectAnswer('keyed', op, post(keyed).set(SHOP).send({}), 400, 'VALIDATION_FAILED');
  });

  it('order reads: lists, one order, unknown, malformed and other callers\' ids', async () => {
    const server = build('open');
    const sku = await freshProduct(pool);
    const id = await placed(server, sku.id);
    await expectAnswer('open', 'GET /api/orders', request(server).get('/api/orders?limit=5'), 200);
    await expectAnswer('open', 'GET /api/orders', request(server).get('/api/orders?limit=0'), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', 'GET /api/orders', request(server).get('/api/orders?status=NOPE'), 400, 'VALIDATION_FAILED');
    await expectAnswer('open', 'GET /api/orders/{id}', request(server).get(`/api/orders/${id}`), 200);
    await expectAnswer('open', 'GET /api/orders/{id}', request(server).get(`/api/orders/${UNKNOWN_ORDER}`), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', 'GET /api/orders/{id}', request(server).get('/api/orders/nope'), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', 'GET /api/orders/{id}', request(server).get('/api/orders/%zz'), 400, 'MALFORMED_URL');
    // A body on a route that reads none is not read, so it cannot make the answer an undocumented 400.
    await expectAnswer('open', 'GET /api/orders/{id}', request(server).get(`/api/orders/${id}`).type('json').send('{'), 200);

    const keyed = build('keyed');
    const theirs = await placed(keyed, sku.id, ADMIN);
    await expectAnswer('keyed', 'GET /api/orders', request(keyed).get('/api/orders'), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', 'GET /api/orders', request(keyed).get('/api/orders').set(SHOP), 200);
    await expectAnswer('keyed', 'GET /api/orders/{id}', request(keyed).get(`/api/orders/${theirs}`), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', 'GET /api/orders/{id}', request(keyed).get(`/api/orders/${theirs}`).set(SHOP), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('keyed', 'GET /api/orders/{id}', request(keyed).get(`/api/orders/${theirs}`).set(ADMIN), 200);
  });

  it('cancel: accepted, 409s, Temporal not confirming, unknown ids', async () => {
    const server = build('open');
    const sku = await freshProduct(pool, { stock: 100 });
    const op = 'POST /api/orders/{id}/cancel';
    const cancel = (id: string, app: Express = server) => request(app).post(`/api/orders/${id}/cancel`);
    const id = await placed(server, sku.id);
    await expectAnswer('open', op, cancel(id), 202);
    await expectAnswer('open', op, cancel(UNKNOWN_ORDER), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', op, cancel('nope'), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', op, cancel('%zz'), 400, 'MALFORMED_URL');
    const starting = await placed(server, sku.id);
    await pool.query(`UPDATE orders SET start_state = 'STARTING' WHERE id = $1`, [starting]);
    await expectAnswer('open', op, cancel(starting), 409, 'START_IN_PROGRESS');
    const done = await placed(server, sku.id);
    await pool.query(`UPDATE orders SET status = 'COMPLETED' WHERE id = $1`, [done]);
    await expectAnswer('open', op, cancel(done), 409, 'NOT_CANCELLABLE');
    const closed: OrderWorkflows = { ...recordingWorkflows().workflows, cancel: async () => Promise.reject(new WorkflowClosedError('terminated')) };
    await expectAnswer('open', op, cancel(await placed(server, sku.id), build('open', { workflows: closed })), 409, 'WORKFLOW_CLOSED');
    const silent: OrderWorkflows = { ...recordingWorkflows().workflows, cancel: async () => Promise.reject(new TemporalUnavailableError('deadline')) };
    await expectAnswer('open', op, cancel(await placed(server, sku.id), build('open', { workflows: silent })), 503, 'TEMPORAL_UNAVAILABLE');

    const keyed = build('keyed');
    await expectAnswer('keyed', op, cancel(id, keyed), 401, 'UNAUTHORIZED');
    await expectAnswer('keyed', op, cancel(id, keyed).set(SHOP), 404, 'ORDER_NOT_FOUND'); // placed open: no owner
  });

  it('retry: accepted, 409s, Temporal down, outcome unknown, overloaded', async () => {
    const server = build('open');
    const sku = await freshProduct(pool, { stock: 100 });
    const op = 'POST /api/orders/{id}/retry';
    const retry = (id: string, app: Express = server) => request(app).post(`/api/orders/${id}/retry`);
    const failedOrder = async () => {
      const id = await placed(server, sku.id);
      await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
      return id;
    };
    await expectAnswer('open', op, retry(await failedOrder()), 202);
    await expectAnswer('open', op, retry(await placed(server, sku.id)), 409, 'NOT_RETRYABLE');
    await expectAnswer('open', op, retry(UNKNOWN_ORDER), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', op, retry('nope'), 404, 'ORDER_NOT_FOUND');
    await expectAnswer('open', op, retry('%zz'), 400, 'MALFORMED_URL');
    const closing: OrderWorkflows = { ...recordingWorkflows().workflows, start: async () => ({ kind: 'RUNNING_ALREADY', runningAttempt: 1 }) };
    await expectAnswer('open', op, retry(await failedOrder(), build('open', { workflows: closing })), 409, 'RETRY_IN_PROGRESS');
    const down: OrderWorkflows = { ...recordingWorkflows().workflows, start: async () => Promise.reject(new TemporalUnavailableError('deadline')) };
    await expectAnswer('open', op, retry(await failedOrder(), build('open', { workflows: down })), 503, 'TEMPORAL_UNAVAILABLE');
    const refused: OrderWorkflows = { ...recordingWorkflows().workflows, start: async () => Promise.reject(new Error('codec: no key')) };
    await expectAnswer('open', op, retry(await failedOrder(), build('open', { workflows: refused })), 503, 'TEMPORAL_START_REFUSED');
    await expectAnswer('open', op, retry(await failedOrder(), build('open', { pool: failingPool(/^UPDATE orders SET attempt = \$2/) })), 503, 'DATABASE_UNAVAILABLE');
    await expectAnswer('open', op, retry(await failedOrder(), build('open', { pool: failingPool(/^SELECT o.id/) })), 503, 'DATABASE_UNAVAILABLE');
    const unknown = build('open', { workflows: down, pool: failingPool(/attempt = attempt - 1/) });
    await expectAnswer('open', op, retry(await failedOrder(), unknown), 500, 'OUTCOME_UNKNOWN');
    // One slot, held by a retry whose previous run takes long to close: the next retry is shed.
    let release: (() => void) | undefined;
    const slow: OrderWorkflows = {
      ...recordingWorkflows().workflows,
      waitForClose: () => new Promise<void>((resolve) => (release = resolve)),
    };
    const busy = build('open', { workflows: slow, maxOrdersInFlight: 1 }).listen(0);
    try {
      const first = request(busy).post(`/api/orders/${await failedOrder()}/retry`).then((r) => r);
      while (!release) await new Promise((r) => setTimeout(r, 10));
      await expectAnswer('open', op, request(busy).post(`/api/orders/${UNKNOWN_ORDER}/retry`), 503, 'OVERLOADED');
      release();
      expect((await first).status).toBe(202);
    } finally {
      release?.();
      busy.close();
    }

    await expectAnswer('keyed', op, retry(UNKNOWN_ORDER, build('keyed')), 401, 'UNAUTHORIZED');
  });

  it.each([
    ['gone (its connections dropped): 503 DATABASE_UNAVAILABLE with Retry-After', connectionLost, 503, 'DATABASE_UNAVAILABLE'],
    ['refusing every statement: 500 INTERNAL', statementRefused, 500, 'INTERNAL'],
  ] as const)('a database %s on the /api routes, 503 from /readyz', async (_, error, status, code) => {
    for (const mode of ['open', 'keyed'] as const) {
      const broken = build(mode, { pool: failingPool(/./, error) });
      const auth = mode === 'keyed' ? ADMIN : {};
      const answers = [
        await expectAnswer(mode, 'GET /api/products', request(broken).get('/api/products'), status, code),
        await expectAnswer(mode, 'GET /api/products/{id}', request(broken).get('/api/products/sku-1'), status, code),
        await expectAnswer(mode, 'PUT /api/products/{id}', request(broken).put('/api/products/sku-1').set(auth).send({ name: 'x', priceCents: 1, stock: 1 }), status, code),
        await expectAnswer(mode, 'POST /api/orders', request(broken).post('/api/orders').set(auth).send(orderFor('sku-1')), status, code),
        await expectAnswer(mode, 'GET /api/orders', request(broken).get('/api/orders').set(auth), status, code),
      ];
      for (const op of ['GET /api/orders/{id}', 'POST /api/orders/{id}/cancel', 'POST /api/orders/{id}/retry']) {
        const [method, path] = op.split(' ') as [string, string];
        const send = request(broken)[method.toLowerCase() as 'get' | 'post'](path.replace('{id}', UNKNOWN_ORDER)).set(auth);
        answers.push(await expectAnswer(mode, op, send, status, code));
      }
      for (const res of answers) expect(res.headers['retry-after'] !== undefined, res.text).toBe(status === 503);
      await expectAnswer(mode, 'GET /readyz', request(broken).get('/readyz'), 503);
    }
  });

  it('probes, metrics and the docs', async () => {
    for (const mode of ['open', 'keyed'] as const) {
      const server = build(mode);
      for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
        await expectAnswer(mode, `GET ${path}`, request(server).get(path), 200);
      }
    }
  });

  it('the console page, and who a key belongs to', async () => {
    for (const mode of ['open', 'keyed'] as const) {
      await expectAnswer(mode, 'GET /', request(build(mode)).get('/'), 200);
    }
    const open = await expectAnswer('open', 'GET /api/caller', request(build('open')).get('/api/caller'), 200);
    expect(open.body).toEqual({ name: null, admin: true });
    const keyed = build('keyed');
    await expectAnswer('keyed', 'GET /api/caller', request(keyed).get('/api/caller'), 401, 'UNAUTHORIZED');
    const shop = await expectAnswer('keyed', 'GET /api/caller', request(keyed).get('/api/caller').set(SHOP), 200);
    expect(shop.body).toEqual({ name: 'shop', admin: false });
    expect((await request(keyed).get('/api/caller').set(ADMIN)).body).toEqual({ name: 'ops', admin: true });
  });

  it('429 RATE_LIMITED with Retry-After on every /api operation', async () => {
    for (const mode of ['open', 'keyed'] as const) {
      const { doc } = served[mode]!;
      for (const [path, item] of Object.entries(doc.paths)) {
        if (!path.startsWith('/api/')) continue;
        for (const method of METHODS) {
          if (!item[method]) continue;
          const server = build(mode, { rateLimitPerMinute: 1 });
          const url = path.replace('{id}', path.startsWith('/api/orders') ? UNKNOWN_ORDER : 'sku-1');
          const send = () => request(server)[method as 'get'](url).set(mode === 'keyed' ? ADMIN : {});
          await send();
          const limited = await expectAnswer(mode, `${method.toUpperCase()} ${path}`, send(), 429, 'RATE_LIMITED');
          expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        }
      }
    }
  });
});

describe('the open demo answers to loopback names only', () => {
  it('403 HOST_NOT_ALLOWED on every operation for a Host that is not localhost, 127.0.0.1 or [::1]', async () => {
    const server = build('open');
    for (const [path, item] of Object.entries(served.open!.doc.paths)) {
      for (const method of METHODS) {
        if (!item[method]) continue;
        const url = path.replace('{id}', path.startsWith('/api/orders') ? UNKNOWN_ORDER : 'sku-1');
        const send = request(server)[method as 'get'](url).set('Host', 'rebound.example:3000');
        await expectAnswer('open', `${method.toUpperCase()} ${path}`, send, 403, 'HOST_NOT_ALLOWED');
      }
    }
  });
});

describe('wrong methods', () => {
  it.each(['open', 'keyed'] as const)('%s: a known path asked with a method it does not serve is 405 with Allow, in the error envelope', async (mode) => {
    const server = build(mode);
    const { doc } = served[mode]!;
    for (const [path, item] of Object.entries(doc.paths)) {
      const documented = METHODS.filter((m) => item[m] !== undefined);
      const allow = documented.flatMap((m) => (m === 'get' ? ['GET', 'HEAD'] : [m.toUpperCase()]));
      const url = path.replace('{id}', path.startsWith('/api/orders') ? UNKNOWN_ORDER : 'sku-1');
      for (const method of METHODS.filter((m) => !documented.includes(m))) {
        const res = await request(server)[method](url).send(method === 'options' ? undefined : {});
        const what = `${mode}: ${method.toUpperCase()} ${url} -> ${res.status} ${res.text}`;
        expect(res.status, what).toBe(405);
        expect(res.headers.allow?.split(/,\s*/).sort(), what).toEqual([...allow].sort());
        expect(res.type, what).toBe('application/json');
        expect(res.body, what).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: expect.any(String) } });
      }
    }
    // A path that is not the API's stays 404.
    for (const [method, url] of [['get', '/api'], ['delete', '/api/nothing'], ['get', '/openapi.yaml']] as const) {
      const res = await request(server)[method](url);
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
  });
});

describe('security follows the running mode', () => {
  it('without API_KEYS no operation asks for a key; with them the order routes and the catalogue write do, with 401', () => {
    const open = served.open!.doc;
    const keyed = served.keyed!.doc;
    for (const [path, item] of Object.entries(open.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const name = `${method.toUpperCase()} ${path}`;
        expect(op.security ?? [], `open ${name}`).toEqual([]);
        expect(op.responses['401'], `open ${name}`).toBeUndefined();
        // Open, the only 403 is the loopback demo's refusal of other host names (api/host-check.ts).
        expect(op.responses['403']?.content?.['application/json']?.schema?.properties?.error?.properties?.code?.enum, `open ${name}`).toEqual(['HOST_NOT_ALLOWED']);
        expect(op.responses['403']?.headers?.['WWW-Authenticate'], `open ${name}`).toBeUndefined();
        const secured = path.startsWith('/api/orders') || name === 'PUT /api/products/{id}' || name === 'GET /api/caller';
        const keyedOp = keyed.paths[path]?.[method];
        expect(keyedOp?.security, `keyed ${name}`).toEqual(secured ? [{ bearerAuth: [] }] : undefined);
        expect(keyedOp?.responses['401'] !== undefined, `keyed ${name}`).toBe(secured);
      }
    }
    expect(keyed.components?.securitySchemes).toHaveProperty('bearerAuth');
  });
});

/** Declared in the document for answers these fakes cannot produce yet, each with why; once one is driven above, remove it here. */
const NOT_DRIVEN: Record<string, string> = {
  'GET /api/caller 500 INTERNAL': 'it reads nothing but the request: only a bug could fail it, and the handler has none to provoke',
};

describe('coverage', () => {
  it('every status and code either document declares was answered above, in one mode or the other, but for NOT_DRIVEN', () => {
    const missing: string[] = [];
    for (const mode of ['open', 'keyed'] as const) {
      for (const [path, item] of Object.entries(served[mode]!.doc.paths)) {
        for (const method of METHODS) {
          for (const [status, response] of Object.entries(item[method]?.responses ?? {})) {
            const codes = response.content?.['application/json']?.schema?.properties?.error?.properties?.code?.enum ?? ['-'];
            for (const code of codes) {
              const op = `${method.toUpperCase()} ${path} ${status} ${code}`;
              if (!seen.has(op) && !(op in NOT_DRIVEN)) missing.push(`${mode}: ${op}`);
            }
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(Object.keys(NOT_DRIVEN).filter((op) => seen.has(op)), 'driven after all: remove from NOT_DRIVEN').toEqual([]);
  });
});
