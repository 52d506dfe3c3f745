/**
 * Every operation the API serves and every error each one can answer: the one
 * table that api/openapi.ts documents, api/app.ts routes wrong methods (405) and
 * body parsing by, and test/unit/contract.test.ts holds the running app to. A
 * route that gains an answer gets it here, and the document follows.
 *
 * Each operation lists the errors of its own handler; those of the layers in
 * front of every handler (rate limit, API keys, body parsing, path decoding,
 * unexpected failures) are added by errorsOf(), from the operation's flags.
 */

/** One error answer: status, stable code, and when it is given (for the document). */
export interface ErrorAnswer {
  status: number;
  code: string;
  when: string;
  /** Sent with a Retry-After header. */
  retryAfter?: true;
}

export type Method = 'get' | 'put' | 'post';

export interface OperationContract {
  method: Method;
  /** The OpenAPI path template, `{id}` for a path parameter. */
  path: string;
  /** With API_KEYS set: `caller` needs a valid key (401), `admin` an admin's key (401, 403). Without API_KEYS, any caller may. */
  auth?: 'caller' | 'admin';
  /** Reads a JSON body. Only these operations parse one, so only they can answer the body's errors. */
  body?: true;
  /** What the route's handler itself answers. */
  errors: readonly ErrorAnswer[];
}

const overloaded: ErrorAnswer = {
  status: 503,
  code: 'OVERLOADED',
  when: 'MAX_ORDERS_IN_FLIGHT order writes are already running in this process; answered at once and nothing was changed. Retry after `Retry-After` seconds.',
  retryAfter: true,
};
const outcomeUnknown = (what: string): ErrorAnswer => ({
  status: 500,
  code: 'OUTCOME_UNKNOWN',
  when: `${what} could be neither confirmed nor withdrawn, so it may still go ahead (\`details.orderId\`); look the order up before trying again.`,
});
const startRefused = (what: string): ErrorAnswer => ({
  status: 503,
  code: 'TEMPORAL_START_REFUSED',
  when:
    'Temporal refused the start for a reason a retry does not cure (UNAUTHENTICATED, PERMISSION_DENIED, a missing namespace, ' +
    'the order search attributes missing and their registration refused; ' +
    `\`details.cause\` names the gRPC status); ${what} Fix the service's Temporal settings.`,
});
const databaseUnavailable = (what: string): ErrorAnswer => ({
  status: 503,
  code: 'DATABASE_UNAVAILABLE',
  when: `PostgreSQL is unreachable or went away; ${what} Retry after \`Retry-After\` seconds.`,
  retryAfter: true,
});
const readUnavailable = databaseUnavailable('nothing was read.');
const orderNotFound: ErrorAnswer = { status: 404, code: 'ORDER_NOT_FOUND', when: "no such order, a malformed id, or another caller's order." };
const validationFailed = (what: string): ErrorAnswer => ({
  status: 400,
  code: 'VALIDATION_FAILED',
  when: `${what} does not match the schema; \`details\` lists \`[{path, message}]\`.`,
});

export const OPERATIONS: readonly OperationContract[] = [
  { method: 'get', path: '/api/products', errors: [readUnavailable] },
  {
    method: 'get',
    path: '/api/products/{id}',
    errors: [{ status: 404, code: 'PRODUCT_NOT_FOUND', when: 'no such product (also for a malformed id).' }, readUnavailable],
  },
  {
    method: 'put',
    path: '/api/products/{id}',
    auth: 'admin',
    body: true,
    errors: [
      validationFailed('the id or the body'),
      {
        status: 409,
        code: 'STOCK_BELOW_RESERVED',
        when: 'the stock on hand asked for is below what open reservations hold (`details.reserved`); nothing changed.',
      },
      databaseUnavailable(
        'the message says whether nothing was changed (no connection could be had) or the product may have been saved (the connection dropped during the write): the same PUT is safe to send again.',
      ),
    ],
  },
  {
    method: 'post',
    path: '/api/orders',
    auth: 'caller',
    body: true,
    errors: [
      validationFailed('the body or the Idempotency-Key header'),
      {
        status: 409,
        code: 'REQUEST_IN_PROGRESS',
        when: 'an earlier request with the same Idempotency-Key is still starting this order (`details.orderId`); retry in a moment.',
      },
      { status: 422, code: 'UNKNOWN_PRODUCT', when: 'an item names a product the catalogue does not have (`details.productIds`).' },
      {
        status: 422,
        code: 'IDEMPOTENCY_KEY_REUSED',
        when: 'the Idempotency-Key was used with a different body (`details.orderId`).',
      },
      outcomeUnknown('the start'),
      {
        status: 503,
        code: 'TEMPORAL_UNAVAILABLE',
        when: 'the workflow could not be started and the order was withdrawn; no order exists and none will run. Retry later.',
      },
      startRefused('the order was withdrawn and nothing happened.'),
      databaseUnavailable(
        'the message says which: nothing was changed (PostgreSQL was not reached, or the order was confirmed taken back), or the order may have been recorded but its saga was not started, so it will not go ahead (a record left behind is withdrawn within a minute). Neither names an order.',
      ),
      overloaded,
    ],
  },
  { method: 'get', path: '/api/orders', auth: 'caller', errors: [validationFailed('the query (status, customerId, limit 1–200)'), readUnavailable] },
  // The order, or 404 for every id it will not show.
  { method: 'get', path: '/api/orders/{id}', auth: 'caller', errors: [orderNotFound, readUnavailable] },
  {
    method: 'post',
    path: '/api/orders/{id}/cancel',
    auth: 'caller',
    errors: [
      orderNotFound,
      {
        status: 409,
        code: 'NOT_CANCELLABLE',
        when: 'the order is already COMPLETED, FAILED or CANCELLED, or COMPENSATING for a failure: it is already being undone (`details.status`).',
      },
      { status: 409, code: 'START_IN_PROGRESS', when: "the order's start is not confirmed yet; retry in a moment." },
      {
        status: 409,
        code: 'WORKFLOW_CLOSED',
        when: "the order's workflow ended without finishing it (e.g. terminated by an operator): no cancel can reach it; an operator must resume or resolve it (`details.status`).",
      },
      {
        status: 503,
        code: 'TEMPORAL_UNAVAILABLE',
        when: 'the workflow service did not confirm the cancel in time; it may still apply. Look the order up or retry the cancel.',
      },
      databaseUnavailable('the cancel was not sent (or was refused by the order), so nothing was changed.'),
    ],
  },
  {
    method: 'post',
    path: '/api/orders/{id}/retry',
    auth: 'caller',
    errors: [
      orderNotFound,
      {
        status: 409,
        code: 'NOT_RETRYABLE',
        when: 'only FAILED + PAYMENT_UNAVAILABLE orders can be retried (`details.status`, `details.failureReason`).',
      },
      { status: 409, code: 'RETRY_IN_PROGRESS', when: 'the previous run is still closing; retry in a moment.' },
      outcomeUnknown('the new attempt'),
      {
        status: 503,
        code: 'TEMPORAL_UNAVAILABLE',
        when: 'the new attempt could not be started and was withdrawn; the order is FAILED as before. Retry later.',
      },
      startRefused('the new attempt was withdrawn and the order is FAILED as before.'),
      databaseUnavailable(
        'the message says which: nothing was changed (the order is FAILED as before), or the new attempt may have been recorded but was not started, so it will not run (the order may show PENDING until it is put back, within a minute, to FAILED as before).',
      ),
      overloaded,
    ],
  },
  // Who the request's key belongs to, for the console: with API_KEYS only a valid key gets an answer.
  { method: 'get', path: '/api/caller', auth: 'caller', errors: [] },
  { method: 'get', path: '/', errors: [] }, // the console page (console/)
  { method: 'get', path: '/healthz', errors: [] },
  { method: 'get', path: '/readyz', errors: [] }, // its 503 is a readiness answer, not an error (api/openapi.ts)
  { method: 'get', path: '/metrics', errors: [] },
  { method: 'get', path: '/openapi.json', errors: [] },
  { method: 'get', path: '/docs', errors: [] },
];

/** The layers every /api request passes (api/app.ts): the rate limit, and the error handler for anything unexpected. */
const API_LAYER: readonly ErrorAnswer[] = [
  {
    status: 429,
    code: 'RATE_LIMITED',
    when:
      'this caller (its API key when it sends a valid one, else its IP address) made more than RATE_LIMIT_PER_MINUTE requests ' +
      'this minute; nothing was done. `RateLimit` and `RateLimit-Policy` headers state the budget.',
    retryAfter: true,
  },
  { status: 500, code: 'INTERNAL', when: 'an unexpected error; logged with its stack, which never reaches the client.' },
];
const PATH_PARAMETER_LAYER: readonly ErrorAnswer[] = [
  { status: 400, code: 'MALFORMED_URL', when: 'the path is not valid percent-encoding.' },
];
/** express.json's refusals, before the handler runs. */
const BODY_LAYER: readonly ErrorAnswer[] = [
  { status: 400, code: 'INVALID_JSON', when: 'the body is not valid JSON.' },
  { status: 400, code: 'BAD_REQUEST', when: 'the body could not be read (e.g. a Content-Encoding that does not match it).' },
  { status: 413, code: 'PAYLOAD_TOO_LARGE', when: 'the body exceeds 64 kB; it is not read.' },
  { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', when: 'an unsupported body encoding or charset.' },
];
const UNAUTHORIZED: ErrorAnswer = {
  status: 401,
  code: 'UNAUTHORIZED',
  when: 'the bearer token is missing or not one of API_KEYS; answered before the body is read.',
};
const FORBIDDEN: ErrorAnswer = {
  status: 403,
  code: 'FORBIDDEN',
  when: "the key is valid but not an admin's (API_KEYS entry `name:admin=key`).",
};

/** The open demo's refusal of other host names (api/host-check.ts); every route, probes included, answers it. */
const HOST_NOT_ALLOWED: ErrorAnswer = {
  status: 403,
  code: 'HOST_NOT_ALLOWED',
  when: 'without API_KEYS (the local demo, on loopback) the Host header names something else than localhost, 127.0.0.1 or [::1].',
};

/** Every error `op` can answer, in status order; `keyed`: the API runs with API_KEYS. */
export function errorsOf(op: OperationContract, keyed: boolean): ErrorAnswer[] {
  const all = [
    ...(op.path.startsWith('/api/') ? API_LAYER : []),
    ...(op.path.includes('{') ? PATH_PARAMETER_LAYER : []),
    ...(op.body ? BODY_LAYER : []),
    ...(keyed && op.auth ? [UNAUTHORIZED] : []),
    ...(keyed && op.auth === 'admin' ? [FORBIDDEN] : []),
    ...(keyed ? [] : [HOST_NOT_ALLOWED]),
    ...op.errors,
  ];
  return all.sort((a, b) => a.status - b.status);
}

/** Matches a request path the way Express's default routing does: case-insensitive, one trailing slash allowed. */
const patterns = [...new Set(OPERATIONS.map((op) => op.path))].map((path) => ({
  path,
  regex: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}/?$`, 'i'),
}));

/** The operations served at `requestPath` (the path as requested, not decoded); none for a path the API does not have. */
export function operationsAt(requestPath: string): OperationContract[] {
  const template = patterns.find((p) => p.regex.test(requestPath))?.path;
  return OPERATIONS.filter((op) => op.path === template);
}
