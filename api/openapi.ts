import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { OPERATIONS, errorsOf, type ErrorAnswer } from './contract';
import {
  callerView,
  cancelledOrder,
  errorEnvelopeFor,
  health,
  orderList,
  orderView,
  placedOrder,
  product,
  productList,
  readiness,
  retriedOrder,
} from './response-schemas';
import { createOrderBody, idempotencyKeyHeader, listOrdersQuery, orderIdParam, productBody, productIdParam } from './schemas';

/**
 * The HTTP contract as an OpenAPI 3.1 document, generated from the same zod
 * schemas the routes validate with (api/schemas.ts), the answer schemas in
 * api/response-schemas.ts and the table of every operation's errors in
 * api/contract.ts. Served at GET /openapi.json, for the mode the API runs in (with
 * or without API_KEYS), and browsable at GET /docs. test/unit/openapi.test.ts fails
 * when a route and this document disagree, test/unit/contract.test.ts when an
 * answer of the app does.
 */

// `.meta({ id })` makes the generator put a schema under components/schemas and $ref it.
// The answer schemas carry their ids in api/response-schemas.ts.
const schemas = {
  CreateOrderBody: createOrderBody.meta({
    id: 'CreateOrderBody',
    example: { customerId: 'c-1', items: [{ productId: 'sku-1', quantity: 2 }], paymentMethod: 'pm_card_visa' },
  }),
  ProductBody: productBody.meta({ id: 'ProductBody', example: { name: 'Espresso cup', priceCents: 1250, stock: 100 } }),
};
const productParams = z.object({ id: productIdParam.meta({ param: { description: 'Product id (SKU).' }, example: 'sku-1' }) });
const orderParams = z.object({
  id: orderIdParam.meta({ param: { description: "Order id; unknown, malformed and other callers' ids are all 404." } }),
});

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

/**
 * The error answers of one status as one response: the description names every code with when it is
 * given, the schema admits exactly those codes, and the headers are those some of them send.
 */
function errorResponse(status: number, answers: readonly ErrorAnswer[]): ResponseConfig {
  const codes = answers.map((a) => a.code) as [string, ...string[]];
  const headers: NonNullable<ResponseConfig['headers']> = {};
  const retrying = answers.filter((a) => a.retryAfter).map((a) => a.code);
  if (retrying.length > 0) {
    headers['Retry-After'] = {
      description: `With ${retrying.join(', ')}: seconds to wait before retrying.`,
      schema: { type: 'integer', minimum: 0 },
    };
  }
  if (codes.includes('UNAUTHORIZED') || codes.includes('FORBIDDEN')) {
    headers['WWW-Authenticate'] = {
      description:
        status === 401
          ? '`Bearer realm="order-saga"`, with `error="invalid_token"` when a token was sent.'
          : '`Bearer realm="order-saga", error="insufficient_scope"`.',
      schema: { type: 'string' },
    };
  }
  return {
    description: answers.map((a) => `${a.code}: ${a.when}`).join(' '),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { 'application/json': { schema: errorEnvelopeFor(codes), example: { error: { code: codes[0], message: '…' } } } },
  };
}

/** An operation's error responses by status, from api/contract.ts. */
function errorResponses(answers: readonly ErrorAnswer[]): Record<number, ResponseConfig> {
  const byStatus = new Map<number, ErrorAnswer[]>();
  for (const a of answers) byStatus.set(a.status, [...(byStatus.get(a.status) ?? []), a]);
  return Object.fromEntries([...byStatus].map(([status, group]) => [status, errorResponse(status, group)]));
}

const bearer = [{ bearerAuth: [] }];

/** What the document describes: the API as it runs, with API_KEYS (`keyed`) or without. */
export interface DocumentMode {
  keyed: boolean;
}

function buildDocument({ keyed }: DocumentMode) {
  const registry = new OpenAPIRegistry();
  if (keyed) {
    registry.registerComponent('securitySchemes', 'bearerAuth', {
      type: 'http',
      scheme: 'bearer',
      description:
        'This API runs with API_KEYS: every order route (reads included) and the catalogue write need ' +
        '`Authorization: Bearer <key>`. A caller sees, cancels and retries only the orders it placed, and its ' +
        'Idempotency-Keys are its own; an admin key (`name:admin=key`) sees every order and may write the catalogue. ' +
        'Catalogue reads are public.',
    });
  }

  const routes: RouteConfig[] = [
    {
      method: 'get',
      path: '/api/products',
      operationId: 'listProducts',
      tags: ['products'],
      summary: 'The catalogue with current stock, by id',
      responses: { 200: { description: 'Every product.', content: json(productList) } },
    },
    {
      method: 'get',
      path: '/api/products/{id}',
      operationId: 'getProduct',
      tags: ['products'],
      summary: 'One product',
      request: { params: productParams },
      responses: {
        200: { description: 'The product.', content: json(product) },
      },
    },
    {
      method: 'put',
      path: '/api/products/{id}',
      operationId: 'putProduct',
      tags: ['products'],
      summary: 'Create or replace a product',
      request: { params: productParams, body: { required: true, content: json(schemas.ProductBody) } },
      responses: {
        200: { description: 'Replaced.', content: json(product) },
        201: { description: 'Created.', content: json(product) },
      },
    },
    {
      method: 'post',
      path: '/api/orders',
      operationId: 'placeOrder',
      tags: ['orders'],
      summary: 'Accept an order and start its saga',
      description:
        'Prices the items from the catalogue, records the order as PENDING and starts its workflow; answers once the ' +
        'workflow has durably started. With an Idempotency-Key, repeating the request answers the same order ' +
        '(header `Idempotent-Replayed: true`) instead of placing another. Keys are per caller: the same key from another ' +
        'API key is another order. Order ids are random, never derived from the key.',
      request: {
        headers: z.object({
          'Idempotency-Key': idempotencyKeyHeader
            .optional()
            .meta({ param: { description: 'Client-chosen key; from the same caller, the same key always means the same order.' } }),
        }),
        body: { required: true, content: json(schemas.CreateOrderBody) },
      },
      responses: {
        202: {
          description: 'Accepted: the saga runs; poll `links.self`.',
          headers: {
            Location: { description: 'The order, `/api/orders/{orderId}`.', schema: { type: 'string' } },
            'Idempotent-Replayed': {
              description: '`true` when an earlier request with the same Idempotency-Key placed this order.',
              schema: { type: 'string', enum: ['true'] },
            },
          },
          content: json(placedOrder),
        },
      },
    },
    {
      method: 'get',
      path: '/api/orders',
      operationId: 'listOrders',
      tags: ['orders'],
      summary: 'Orders, newest first',
      description: "The caller's own orders; an admin's (or, without API_KEYS, anyone's) list holds every order.",
      request: { query: listOrdersQuery },
      responses: {
        200: { description: 'Matching orders.', content: json(orderList) },
      },
    },
    {
      method: 'get',
      path: '/api/orders/{id}',
      operationId: 'getOrder',
      tags: ['orders'],
      summary: 'One order with its lines, payment, notifications, status history and links',
      request: { params: orderParams },
      responses: {
        200: { description: 'The order.', content: json(orderView) },
      },
    },
    {
      method: 'post',
      path: '/api/orders/{id}/cancel',
      operationId: 'cancelOrder',
      tags: ['orders'],
      summary: 'Cancel an order that has not finished',
      description: 'The saga undoes what it did (refund, release stock) and ends CANCELLED.',
      request: { params: orderParams },
      responses: {
        202: { description: 'Cancellation accepted; `status` is the state it was accepted in.', content: json(cancelledOrder) },
      },
    },
    {
      method: 'post',
      path: '/api/orders/{id}/retry',
      operationId: 'retryOrder',
      tags: ['orders'],
      summary: 'Run the saga again for an order that FAILED with PAYMENT_UNAVAILABLE',
      request: { params: orderParams },
      responses: {
        202: {
          description: 'A new attempt started.',
          headers: { Location: { description: 'The order, `/api/orders/{orderId}`.', schema: { type: 'string' } } },
          content: json(retriedOrder),
        },
      },
    },
    {
      method: 'get',
      path: '/api/caller',
      operationId: 'getCaller',
      tags: ['console'],
      summary: 'Who the bearer key belongs to',
      description: 'The console asks it to tell whether a key is valid and whether it is an admin\'s.',
      responses: { 200: { description: 'The caller.', content: json(callerView) } },
    },
    {
      method: 'get',
      path: '/',
      operationId: 'consolePage',
      tags: ['console'],
      summary: 'The order console (a browser page on this API; its files under /console/)',
      responses: { 200: { description: 'An HTML page.', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
    {
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      tags: ['operations'],
      summary: 'Liveness: the process answers',
      responses: { 200: { description: 'Alive.', content: json(health) } },
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      tags: ['operations'],
      summary: 'Readiness: PostgreSQL and Temporal both answer',
      responses: {
        200: { description: 'Ready.', content: json(readiness) },
        503: { description: 'Not ready; `checks` says which store is unavailable.', content: json(readiness) },
      },
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics',
      responses: {
        200: {
          description: 'Prometheus text exposition format.',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      tags: ['docs'],
      summary: 'This document',
      responses: {
        200: {
          description: 'The OpenAPI 3.1 document.',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
    {
      method: 'get',
      path: '/docs',
      operationId: 'docsPage',
      tags: ['docs'],
      summary: 'This document as a browsable page (Swagger UI, served locally)',
      responses: { 200: { description: 'An HTML page.', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  ];
  // The statuses and codes come from api/contract.ts, and nothing may be in one but not the other.
  const contractOf = (route: RouteConfig) => OPERATIONS.find((op) => op.method === route.method && op.path === route.path);
  const uncovered = [
    ...routes.filter((route) => !contractOf(route)).map((r) => `${r.method} ${r.path} is not in api/contract.ts`),
    ...OPERATIONS.filter((op) => !routes.some((r) => r.method === op.method && r.path === op.path)).map(
      (op) => `${op.method} ${op.path} of api/contract.ts is not documented`,
    ),
  ];
  if (uncovered.length > 0) throw new Error(uncovered.join('; '));
  for (const route of routes) {
    const contract = contractOf(route)!;
    registry.registerPath({
      ...route,
      ...(keyed && contract.auth ? { security: bearer } : {}),
      responses: { ...route.responses, ...errorResponses(errorsOf(contract, keyed)) },
    });
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Order saga service',
      version: '0.1.0',
      description:
        'Orders run as durable sagas on Temporal: `POST /api/orders` answers 202 at once, the workflow reserves stock, ' +
        'charges and confirms, and undoes what it did when a step fails or the order is cancelled. ' +
        'Every error is `{"error": {"code", "message", "details"?}}`; each response lists the codes it can carry. ' +
        (keyed
          ? 'This API runs with API_KEYS: the order routes and the catalogue write need a bearer key (`bearerAuth`).'
          : 'This API runs without API_KEYS: no route asks for a key.'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'orders', description: 'Placing, reading, cancelling and retrying orders' },
      { name: 'products', description: 'Catalogue and stock' },
      { name: 'operations', description: 'Health, readiness and metrics' },
      { name: 'docs', description: 'This contract' },
      { name: 'console', description: 'The browser console at /' },
    ],
  });
}

export type OpenApiDocument = ReturnType<typeof buildDocument>;

const documents = new Map<boolean, OpenApiDocument>();

/** The document for the mode the API runs in, built on first use: it cannot change while the process runs. */
export function openApiDocument(mode: DocumentMode): OpenApiDocument {
  let document = documents.get(mode.keyed);
  if (!document) documents.set(mode.keyed, (document = buildDocument(mode)));
  return document;
}
