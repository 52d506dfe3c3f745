import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { AppDeps } from '../../api/app';
import { testApp } from '../support/app';
import { openApiDocument } from '../../api/openapi';
import type { OrderWorkflows } from '../../api/orders/workflow-gateway';
import { errorEnvelope, orderView, placedOrder, product } from '../../api/response-schemas';
import { createOrderBody, idempotencyKeyHeader, productBody } from '../../api/schemas';
import type { Pool } from '../../lib/db/pool';
import { freshProduct, testPool } from '../support/db';

/**
 * The OpenAPI document (api/openapi.ts) against the app: every registered route is
 * documented and every documented operation is served; the document is valid
 * OpenAPI 3.1; its request schemas accept and reject what the zod schemas do; and
 * real answers match its response schemas. Temporal is a fake that accepts every
 * start: the point is the HTTP surface, not the saga.
 */

// The keyed document: a superset of the open one (the same operations, plus security and 401/403).
const doc = openApiDocument({ keyed: true });
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

let pool: Pool;
const workflows: OrderWorkflows = {
  start: async () => ({ kind: 'STARTED', runId: 'run-1' }),
  cancel: async (orderId) => ({ orderId, status: 'PENDING' }),
  waitForClose: async () => undefined,
  ping: async () => undefined,
};

const app = (apiKeys: string[] = [], overrides: Partial<AppDeps> = {}) => testApp(pool, workflows, { apiKeys, ...overrides });

beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

/** "GET /api/orders/{id}" for every operation in the document. */
function documentedOperations(): string[] {
  const ops: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) if (item[method]) ops.push(`${method.toUpperCase()} ${path}`);
  }
  return ops.sort();
}

/**
 * What Router#listRoutes (router 2.3, Express 5.2+) returns: one entry per route
 * path with its methods, or per mounted router, which we recurse into.
 */
interface ListedRoute {
  path: string | RegExp;
  methods: string[] | undefined;
  router: ListableRouter | undefined;
}
interface ListableRouter {
  listRoutes?: () => ListedRoute[];
}

/** "GET /api/orders/{id}" for every route the app registers, Express `:id` written as OpenAPI `{id}`. */
function registeredOperations(router: ListableRouter, prefix = ''): string[] {
  if (typeof router.listRoutes !== 'function') {
    throw new Error('Router#listRoutes is missing: the express/router upgrade changed the API this test walks');
  }
  const ops: string[] = [];
  for (const entry of router.listRoutes()) {
    if (typeof entry.path !== 'string') throw new Error(`a route with a RegExp path cannot be compared: ${String(entry.path)}`);
    // A router mounted at '/' adds nothing; a route at '/' is its mount point itself.
    const path = `${prefix.replace(/\/$/, '')}${entry.path === '/' && prefix ? '' : entry.path}` || '/';
    if (entry.router) {
      ops.push(...registeredOperations(entry.router, path));
      continue;
    }
    const methods = entry.methods ?? [];
    if (methods.includes('*')) throw new Error(`${path} is registered with .all(): document its methods one by one`);
    for (const method of methods) {
      // Express answers HEAD from every GET route; the document lists the GET.
      if (method === 'HEAD' && methods.includes('GET')) continue;
      ops.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return ops.sort();
}

describe('routes and document agree', () => {
  it('every registered route is documented and every documented operation is registered', () => {
    // The app's router is created lazily by the first app.use; createApp has run it.
    const registered = registeredOperations(app().router as unknown as ListableRouter);
    const documented = documentedOperations();
    expect(registered.length).toBeGreaterThanOrEqual(13); // the walk found the routes at all
    expect(registered.filter((op) => !documented.includes(op)), 'registered but not documented').toEqual([]);
    expect(documented.filter((op) => !registered.includes(op)), 'documented but not registered').toEqual([]);
  });

  // A second, black-box check that does not depend on the router's internals.
  it('every documented operation is served: none answers "No route"', async () => {
    const server = app();
    for (const op of documentedOperations()) {
      const [method, path] = op.split(' ') as [string, string];
      const url = path.replace('{id}', path.startsWith('/api/orders') ? '00000000-0000-4000-8000-000000000000' : 'sku-probe');
      const res = await request(server)[method.toLowerCase() as 'get' | 'put' | 'post'](url);
      const noRoute = res.status === 404 && /^No route/.test(res.body?.error?.message ?? '');
      expect(noRoute, `${op} answered ${res.status} ${JSON.stringify(res.body)}`).toBe(false);
    }
  });

  it('undocumented methods on documented paths are 405 with Allow; undocumented paths are 404 NOT_FOUND', async () => {
    const server = app();
    const wrongMethods: Array<[string, string, string]> = [
      ['delete', '/api/orders/00000000-0000-4000-8000-000000000000', 'GET, HEAD'],
      ['put', '/api/orders/00000000-0000-4000-8000-000000000000', 'GET, HEAD'],
      ['get', '/api/orders/00000000-0000-4000-8000-000000000000/cancel', 'POST'],
      ['post', '/api/products', 'GET, HEAD'],
      ['delete', '/api/products/sku-1', 'GET, HEAD, PUT'],
      ['patch', '/api/products/sku-1', 'GET, HEAD, PUT'],
      ['post', '/healthz', 'GET, HEAD'],
      ['post', '/docs/swagger-ui.css', 'GET, HEAD'], // an asset of the docs page
      ['post', '/console/app.js', 'GET, HEAD'], // the console's files
      ['delete', '/console/console.css', 'GET, HEAD'],
      ['options', '/console/api.js', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of wrongMethods) {
      const res = await request(server)[method as 'get' | 'put' | 'post' | 'delete' | 'patch' | 'options'](url);
      expect(res.status, `${method.toUpperCase()} ${url}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.body.error.code).toBe('METHOD_NOT_ALLOWED');
    }
    const unknownPaths: Array<[string, string]> = [
      ['get', '/api'],
      ['get', '/openapi.yaml'],
      ['get', '/docs/index.html'], // swagger-ui-dist's demo page, which is not served
      ['get', '/docs/swagger-initializer.js'],
    ];
    for (const [method, url] of unknownPaths) {
      const res = await request(server)[method as 'get'](url);
      expect(res.status, `${method.toUpperCase()} ${url}`).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
  });

  it('GET /openapi.json serves the document and GET /docs a page that loads it from this server only', async () => {
    const server = app();
    const json = await request(server).get('/openapi.json');
    expect(json.status).toBe(200);
    expect(json.body).toEqual(JSON.parse(JSON.stringify(openApiDocument({ keyed: false }))));
    expect((await request(app(['k'])).get('/openapi.json')).body).toEqual(JSON.parse(JSON.stringify(doc)));

    const page = await request(server).get('/docs');
    expect(page.status).toBe(200);
    expect(page.type).toBe('text/html');
    expect(page.text).toContain("url: '/openapi.json'");
    expect(page.text).not.toMatch(/https?:\/\//); // no CDN, no validator service
    for (const asset of page.text.match(/\/docs\/[\w.-]+/g) ?? []) {
      expect((await request(server).get(asset)).status, asset).toBe(200);
    }
  });
});

describe('the document', () => {
  it('documents 429 RATE_LIMITED with Retry-After on every /api operation, and 503 OVERLOADED on the order writes', () => {
    for (const op of documentedOperations()) {
      const [method, path] = op.split(' ') as [string, string];
      const responses = doc.paths?.[path]?.[method.toLowerCase() as 'get']?.responses ?? {};
      const limited = responses['429'] as { description?: string; headers?: object } | undefined;
      if (!path.startsWith('/api/')) {
        expect(limited, op).toBeUndefined();
        continue;
      }
      expect(limited?.description, op).toMatch(/^RATE_LIMITED/);
      expect(limited?.headers, op).toHaveProperty('Retry-After');
    }
    for (const [method, path] of [['post', '/api/orders'], ['post', '/api/orders/{id}/retry']] as const) {
      const unavailable = doc.paths?.[path]?.[method]?.responses?.['503'] as { description?: string; headers?: object };
      expect(unavailable.description, path).toMatch(/OVERLOADED/);
      expect(unavailable.headers, path).toHaveProperty('Retry-After');
    }
  });

  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // validate() dereferences in place, so it gets a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('puts a bearer scheme and a 401 on exactly the order routes and the catalogue write, and a 403 on the latter', () => {
    const secured = (op: string) => op.includes(' /api/orders') || op === 'PUT /api/products/{id}' || op === 'GET /api/caller';
    expect(documentedOperations().filter(secured)).toHaveLength(7);
    for (const op of documentedOperations()) {
      const [method, path] = op.split(' ') as [string, string];
      const operation = doc.paths?.[path]?.[method.toLowerCase() as 'get'];
      expect(operation?.security, op).toEqual(secured(op) ? [{ bearerAuth: [] }] : undefined);
      expect(operation?.responses?.['401'] !== undefined, op).toBe(secured(op));
      expect(operation?.responses?.['403'] !== undefined, op).toBe(op === 'PUT /api/products/{id}');
      if (secured(op)) expect(operation?.responses?.['401'], op).toHaveProperty('headers.WWW-Authenticate');
    }
  });
});

// Ajv validates the document's JSON Schemas (2020-12, OpenAPI 3.1's dialect) with
// their formats; strict is off because OpenAPI adds keywords such as `example`.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(JSON.parse(JSON.stringify(doc)) as object, 'openapi.json');
const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const component = (name: string) => ajv.compile({ $ref: `openapi.json#/components/schemas/${name}` });

describe('request schemas in the document judge like the zod schemas', () => {
  it('every component schema compiles as JSON Schema 2020-12', () => {
    for (const name of Object.keys(doc.components?.schemas ?? {})) expect(() => component(name), name).not.toThrow();
  });

  const item = { productId: 'sku-1', quantity: 1 };
  const order = { customerId: 'c-1', items: [item], paymentMethod: 'pm_card_visa' };
  const orderCases: Array<[string, unknown]> = [
    ['a full order', order],
    ['an order without paymentMethod (it has a default)', { customerId: 'c-1', items: [item] }],
    ['50 lines', { ...order, items: Array.from({ length: 50 }, (_, i) => ({ productId: `p${i}`, quantity: 1000 })) }],
    ['ids with every allowed character', { ...order, customerId: 'C.9_x:y-z', items: [{ productId: '0a.b_c:d-e', quantity: 2 }] }],
    ['an empty body', {}],
    ['a JSON array', []],
    ['null', null],
    ['no customerId', { items: [item] }],
    ['an empty customerId', { ...order, customerId: '' }],
    ['a customerId with spaces', { ...order, customerId: 'c 1' }],
    ['a customerId starting with "-"', { ...order, customerId: '-c' }],
    ['a 65-character customerId', { ...order, customerId: 'c'.repeat(65) }],
    ['no items', { customerId: 'c-1' }],
    ['an empty items list', { ...order, items: [] }],
    ['51 lines', { ...order, items: Array.from({ length: 51 }, (_, i) => ({ productId: `p${i}`, quantity: 1 })) }],
    ['a zero quantity', { ...order, items: [{ ...item, quantity: 0 }] }],
    ['a quantity of 1001', { ...order, items: [{ ...item, quantity: 1001 }] }],
    ['a fractional quantity', { ...order, items: [{ ...item, quantity: 1.5 }] }],
    ['a quantity given as a string', { ...order, items: [{ ...item, quantity: '2' }] }],
    ['a missing productId', { ...order, items: [{ quantity: 1 }] }],
    ['a client-supplied price', { ...order, items: [{ ...item, priceCents: 1 }] }],
    ['a client-supplied amount', { ...order, amountCents: 1 }],
    ['a malformed paymentMethod', { ...order, paymentMethod: 'visa' }],
    ['a non-string paymentMethod', { ...order, paymentMethod: 42 }],
  ];

  it.each(orderCases)('CreateOrderBody: %s', (_name, body) => {
    const zodOk = createOrderBody.safeParse(body).success;
    expect(component('CreateOrderBody')(body)).toBe(zodOk);
  });

  it('CreateOrderBody: the one rule JSON Schema cannot carry, one line per product, is stated in words', () => {
    const twice = { ...order, items: [item, { ...item, quantity: 2 }] };
    expect(createOrderBody.safeParse(twice).success).toBe(false);
    expect(component('CreateOrderBody')(twice)).toBe(true);
    expect(doc.components?.schemas?.CreateOrderBody).toMatchObject({
      properties: { items: { description: expect.stringMatching(/productId may appear once/) } },
    });
  });

  const productCases: Array<[string, unknown]> = [
    ['a product', { name: 'Mug', priceCents: 1250, stock: 10 }],
    ['a free product out of stock', { name: 'Sticker', priceCents: 0, stock: 0 }],
    ['an empty body', {}],
    ['a negative price', { name: 'x', priceCents: -1, stock: 1 }],
    ['a fractional stock', { name: 'x', priceCents: 1, stock: 1.5 }],
    ['an empty name', { name: '', priceCents: 1, stock: 1 }],
    ['a 201-character name', { name: 'n'.repeat(201), priceCents: 1, stock: 1 }],
    ['an extra field', { name: 'x', priceCents: 1, stock: 1, id: 'sku-1' }],
  ];

  it.each(productCases)('ProductBody: %s', (_name, body) => {
    expect(component('ProductBody')(body)).toBe(productBody.safeParse(body).success);
  });

  it('ProductBody: a blank name, rejected only after trimming, is stated in words', () => {
    const blank = { name: '   ', priceCents: 1, stock: 1 };
    expect(productBody.safeParse(blank).success).toBe(false);
    expect(component('ProductBody')(blank)).toBe(true);
    expect(doc.components?.schemas?.ProductBody).toMatchObject({
      properties: { name: { description: expect.stringMatching(/blank names are rejected/) } },
    });
  });

  it.each([
    ['a short key', 'k-1'],
    ['255 characters', 'k'.repeat(255)],
    ['an empty key', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'has space'],
    ['a non-ASCII letter', 'caf\u00e9'],
  ])(
    'Idempotency-Key header: %s',
    (_name, key) => {
      const param = doc.paths?.['/api/orders']?.post?.parameters?.find((p) => 'name' in p && p.name === 'Idempotency-Key');
      expect(param).toMatchObject({ in: 'header', required: false });
      const validate = ajv.compile((param as { schema: object }).schema);
      expect(validate(key)).toBe(idempotencyKeyHeader.safeParse(key).success);
    },
  );
});

/** Checks an answer against the document's schema for its operation and status, and against a zod schema. */
function expectDocumented(method: string, path: string, res: Response, schema?: z.ZodType): void {
  const response = doc.paths?.[path]?.[method as 'get']?.responses?.[String(res.status)];
  expect(response, `${method.toUpperCase()} ${path} documents no ${res.status}`).toBeDefined();
  const validate = ajv.compile({
    $ref: `openapi.json#/${pointer('paths', path, method, 'responses', String(res.status), 'content', 'application/json', 'schema')}`,
  });
  expect(validate(res.body), `${method.toUpperCase()} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  if (schema) expect(schema.safeParse(res.body).error).toBeUndefined();
}

describe('answers match the document', () => {
  it('products, orders, cancel, retry, health and errors', async () => {
    const server = app();
    const sku = await freshProduct(pool);

    expectDocumented('get', '/api/products', await request(server).get('/api/products'));
    expectDocumented('get', '/api/products/{id}', await request(server).get(`/api/products/${sku.id}`), product);
    expectDocumented('get', '/api/products/{id}', await request(server).get('/api/products/sku-none'), errorEnvelope);
    const created = await request(server).put(`/api/products/${sku.id}-b`).send({ name: 'B', priceCents: 5, stock: 1 });
    expect(created.status).toBe(201);
    expectDocumented('put', '/api/products/{id}', created, product);
    expectDocumented('put', '/api/products/{id}', await request(server).put(`/api/products/${sku.id}`).send({}), errorEnvelope);

    const placed = await request(server).post('/api/orders').send({ customerId: 'c-doc', items: [{ productId: sku.id, quantity: 2 }] });
    expect(placed.status).toBe(202);
    expectDocumented('post', '/api/orders', placed, placedOrder);
    expectDocumented('post', '/api/orders', await request(server).post('/api/orders').send({}), errorEnvelope);
    const unknown = await request(server).post('/api/orders').send({ customerId: 'c-doc', items: [{ productId: 'no-such', quantity: 1 }] });
    expect(unknown.status).toBe(422);
    expectDocumented('post', '/api/orders', unknown, errorEnvelope);
    const secured = await request(app(['k'])).post('/api/orders').send({});
    expect(secured.status).toBe(401);
    expectDocumented('post', '/api/orders', secured, errorEnvelope);
    expectDocumented('get', '/api/orders', await request(app(['k'])).get('/api/orders'), errorEnvelope);
    const forbidden = await request(app(['shop=k'])).put(`/api/products/${sku.id}`).set('Authorization', 'Bearer k').send({});
    expect(forbidden.status).toBe(403);
    expectDocumented('put', '/api/products/{id}', forbidden, errorEnvelope);

    const id = placed.body.orderId as string;
    const one = await request(server).get(`/api/orders/${id}`);
    expect(one.body).toMatchObject({ orderId: id, status: 'PENDING', items: [{ productId: sku.id, quantity: 2 }] });
    expectDocumented('get', '/api/orders/{id}', one, orderView);
    expectDocumented('get', '/api/orders', await request(server).get('/api/orders?customerId=c-doc&limit=5'));
    expectDocumented('get', '/api/orders', await request(server).get('/api/orders?limit=0'), errorEnvelope);
    expectDocumented('post', '/api/orders/{id}/cancel', await request(server).post(`/api/orders/${id}/cancel`));
    expectDocumented('post', '/api/orders/{id}/retry', await request(server).post(`/api/orders/${id}/retry`), errorEnvelope); // 409
    // The one state retry accepts, set directly: the fake Temporal never runs the saga.
    await pool.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
    const retried = await request(server).post(`/api/orders/${id}/retry`);
    expect(retried.status).toBe(202);
    expectDocumented('post', '/api/orders/{id}/retry', retried);
    expectDocumented('post', '/api/orders/{id}/retry', await request(server).post('/api/orders/nope/retry'), errorEnvelope); // 404

    expectDocumented('get', '/healthz', await request(server).get('/healthz'));
    expectDocumented('get', '/readyz', await request(server).get('/readyz'));
    const metrics = await request(server).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe('text/plain');
  });
});

describe('refusals match the document', () => {
  it('429 RATE_LIMITED and 503 OVERLOADED', async () => {
    const limited = app([], { rateLimitPerMinute: 1 });
    await request(limited).get('/api/products');
    const tooMany = await request(limited).get('/api/products');
    expect(tooMany.status).toBe(429);
    expectDocumented('get', '/api/products', tooMany, errorEnvelope);

    // A start that never answers keeps the one slot taken; the next order is shed.
    let release: (() => void) | undefined;
    const held: OrderWorkflows = {
      ...workflows,
      start: () => new Promise((resolve) => (release = () => resolve({ kind: 'STARTED', runId: 'run-1' }))),
    };
    const sku = await freshProduct(pool);
    const body = { customerId: 'c-doc', items: [{ productId: sku.id, quantity: 1 }] };
    const server = app([], { workflows: held, maxOrdersInFlight: 1 }).listen(0);
    try {
      const first = request(server).post('/api/orders').send(body).then((r) => r); // sent now: supertest is lazy
      while (!release) await new Promise((r) => setTimeout(r, 10));
      const shed = await request(server).post('/api/orders').send(body);
      expect(shed.status).toBe(503);
      expect(shed.body.error.code).toBe('OVERLOADED');
      expectDocumented('post', '/api/orders', shed, errorEnvelope);
      release();
      expect((await first).status).toBe(202);
    } finally {
      release?.();
      server.close();
    }
  });
});
