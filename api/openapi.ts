import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  cancelledOrder,
  errorEnvelope,
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
 * schemas the routes validate with (api/schemas.ts) and the answer schemas in
 * api/response-schemas.ts. Served at GET /openapi.json and browsable at GET /docs;
 * test/unit/openapi.test.ts fails when a route and this document disagree.
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

/** An error answer: the envelope, with `code` as the example's code; the description names every code the status can carry. */
const error = (code: string, description: string): ResponseConfig => ({
  description: `${code}${description}`,
  content: { 'application/json': { schema: errorEnvelope, example: { error: { code, message: '…' } } } },
});

/** An error answer that tells the client when to come back. */
const retryLater = (code: string, description: string, retryAfter = 'Seconds to wait before retrying.'): ResponseConfig => ({
  ...error(code, description),
  headers: { 'Retry-After': { description: retryAfter, schema: { type: 'integer', minimum: 0 } } },
});

/** Every /api route is rate limited per caller (RATE_LIMIT_PER_MINUTE; its API key when valid, else its IP). */
const rateLimited = retryLater(
  'RATE_LIMITED',
  ': this caller (its API key when it sends a valid one, else its IP address) made more than RATE_LIMIT_PER_MINUTE requests ' +
    'this minute; nothing was done. `RateLimit` and `RateLimit-Policy` headers state the budget.',
);
const overloadedText =
  'OVERLOADED: MAX_ORDERS_IN_FLIGHT order writes are already running in this process; answered at once and nothing was changed. ';

const internal = error('INTERNAL', ': an unexpected error; logged with its stack, which never reaches the client.');
const unauthorized = {
  ...error('UNAUTHORIZED', ': API_KEYS is set and the bearer token is missing or not one of its keys.'),
  headers: {
    'WWW-Authenticate': {
      description: '`Bearer realm="order-saga"`, with `error="invalid_token"` when a token was sent.',
      schema: { type: 'string' },
    },
  },
} satisfies ResponseConfig;
const forbidden = {
  ...error('FORBIDDEN', ': the key is valid but not an admin\'s (API_KEYS entry `name:admin=key`).'),
  headers: {
    'WWW-Authenticate': { description: '`Bearer realm="order-saga", error="insufficient_scope"`.', schema: { type: 'string' } },
  },
} satisfies ResponseConfig;
/** Another caller's order is answered like one that does not exist, so ids are not confirmed. */
const orderNotFound = error('ORDER_NOT_FOUND', ': no such order, a malformed id, or another caller\'s order.');
/** Errors of any route that reads a JSON body (express.json runs before the route). */
const bodyErrors = {
  413: error('PAYLOAD_TOO_LARGE', ': the body exceeds 64 kB.'),
  415: error('UNSUPPORTED_MEDIA_TYPE', ': an unsupported body encoding or charset.'),
};

const bearer = [{ bearerAuth: [] }];

function buildDocument() {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description:
      'With API_KEYS set, every order route (reads included) and the catalogue write need `Authorization: Bearer <key>`. ' +
      'A caller sees, cancels and retries only the orders it placed, and its Idempotency-Keys are its own; an admin key ' +
      '(`name:admin=key`) sees every order and may write the catalogue. Catalogue reads are public. Without API_KEYS ' +
      '(the local demo, or ALLOW_OPEN_API=1 behind an authenticating gateway) every route is open and the header is ignored.',
  });

  const routes: RouteConfig[] = [
    {
      method: 'get',
      path: '/api/products',
      operationId: 'listProducts',
      tags: ['products'],
      summary: 'The catalogue with current stock, by id',
      responses: { 200: { description: 'Every product.', content: json(productList) }, 429: rateLimited, 500: internal },
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
        404: error('PRODUCT_NOT_FOUND', ': no such product (also for a malformed id).'),
        429: rateLimited,
        500: internal,
      },
    },
    {
      method: 'put',
      path: '/api/products/{id}',
      operationId: 'putProduct',
      tags: ['products'],
      summary: 'Create or replace a product',
      security: bearer,
      request: { params: productParams, body: { required: true, content: json(schemas.ProductBody) } },
      responses: {
        200: { description: 'Replaced.', content: json(product) },
        201: { description: 'Created.', content: json(product) },
        400: error('VALIDATION_FAILED', ' (bad id or body) or INVALID_JSON.'),
        401: unauthorized,
        403: forbidden,
        ...bodyErrors,
        429: rateLimited,
        500: internal,
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
      security: bearer,
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
        400: error('VALIDATION_FAILED', ' (body or Idempotency-Key header) or INVALID_JSON.'),
        401: unauthorized,
        409: error(
          'REQUEST_IN_PROGRESS',
          ': an earlier request with the same Idempotency-Key is still starting this order (`details.orderId`); retry in a moment.',
        ),
        422: error(
          'UNKNOWN_PRODUCT',
          ' (`details.productIds`) or IDEMPOTENCY_KEY_REUSED (the key was used with a different body; `details.orderId`).',
        ),
        ...bodyErrors,
        429: rateLimited,
        500: error(
          'INTERNAL',
          ', or OUTCOME_UNKNOWN: the start could be neither confirmed nor withdrawn, so the order may go ahead ' +
            '(`details.orderId`); look it up before placing it again.',
        ),
        503: retryLater(
          'TEMPORAL_UNAVAILABLE',
          ': the workflow could not be started and the order was withdrawn; no order exists and none will run. Retry later. ' +
            `Or ${overloadedText}Retry after \`Retry-After\` seconds.`,
          'With OVERLOADED: seconds to wait before retrying.',
        ),
      },
    },
    {
      method: 'get',
      path: '/api/orders',
      operationId: 'listOrders',
      tags: ['orders'],
      summary: 'Orders, newest first',
      description: "The caller's own orders; an admin's (or, without API_KEYS, anyone's) list holds every order.",
      security: bearer,
      request: { query: listOrdersQuery },
      responses: {
        200: { description: 'Matching orders.', content: json(orderList) },
        400: error('VALIDATION_FAILED', ': an unknown status, a bad customerId or a limit outside 1–200.'),
        401: unauthorized,
        429: rateLimited,
        500: internal,
      },
    },
    {
      method: 'get',
      path: '/api/orders/{id}',
      operationId: 'getOrder',
      tags: ['orders'],
      summary: 'One order with its lines, payment, notifications and links',
      security: bearer,
      request: { params: orderParams },
      responses: {
        200: { description: 'The order.', content: json(orderView) },
        401: unauthorized,
        404: orderNotFound,
        429: rateLimited,
        500: internal,
      },
    },
    {
      method: 'post',
      path: '/api/orders/{id}/cancel',
      operationId: 'cancelOrder',
      tags: ['orders'],
      summary: 'Cancel an order that has not finished',
      description: 'The saga undoes what it did (refund, release stock) and ends CANCELLED.',
      security: bearer,
      request: { params: orderParams },
      responses: {
        202: { description: 'Cancellation accepted; `status` is the state it was accepted in.', content: json(cancelledOrder) },
        401: unauthorized,
        404: orderNotFound,
        409: error(
          'NOT_CANCELLABLE',
          ': the order is already COMPLETED, FAILED or CANCELLED, or COMPENSATING: it is already being undone (`details.status`); ' +
            'START_IN_PROGRESS: the order\'s start is not confirmed yet, retry in a moment.',
        ),
        429: rateLimited,
        500: internal,
        503: error('TEMPORAL_UNAVAILABLE', ': the workflow service did not confirm the cancel in time; it may still apply. Look the order up or retry the cancel.'),
      },
    },
    {
      method: 'post',
      path: '/api/orders/{id}/retry',
      operationId: 'retryOrder',
      tags: ['orders'],
      summary: 'Run the saga again for an order that FAILED with PAYMENT_UNAVAILABLE',
      security: bearer,
      request: { params: orderParams },
      responses: {
        202: {
          description: 'A new attempt started.',
          headers: { Location: { description: 'The order, `/api/orders/{orderId}`.', schema: { type: 'string' } } },
          content: json(retriedOrder),
        },
        401: unauthorized,
        404: orderNotFound,
        409: error(
          'NOT_RETRYABLE',
          ': only FAILED + PAYMENT_UNAVAILABLE orders can be retried (`details.status`, `details.failureReason`); ' +
            'RETRY_IN_PROGRESS: the previous run is still closing, retry in a moment.',
        ),
        429: rateLimited,
        500: error('INTERNAL', ', or OUTCOME_UNKNOWN: the new attempt could be neither confirmed nor withdrawn; look the order up.'),
        503: retryLater(
          'TEMPORAL_UNAVAILABLE',
          ': the new attempt could not be started and was withdrawn; the order is FAILED as before. Retry later. ' +
            `Or ${overloadedText}Retry after \`Retry-After\` seconds.`,
          'With OVERLOADED: seconds to wait before retrying.',
        ),
      },
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
  for (const route of routes) registry.registerPath(route);

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Order saga service',
      version: '0.1.0',
      description:
        'Orders run as durable sagas on Temporal: `POST /api/orders` answers 202 at once, the workflow reserves stock, ' +
        'charges and confirms, and undoes what it did when a step fails or the order is cancelled. ' +
        'Every error is `{"error": {"code", "message", "details"?}}`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'orders', description: 'Placing, reading, cancelling and retrying orders' },
      { name: 'products', description: 'Catalogue and stock' },
      { name: 'operations', description: 'Health, readiness and metrics' },
      { name: 'docs', description: 'This contract' },
    ],
  });
}

export type OpenApiDocument = ReturnType<typeof buildDocument>;

let document: OpenApiDocument | undefined;

/** The document, built on first use: it cannot change while the process runs. */
export function openApiDocument(): OpenApiDocument {
  document ??= buildDocument();
  return document;
}
