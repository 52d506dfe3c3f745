// @ts-check
/**
 * The console's one way to the API: same origin, JSON, the API key (if any) as a
 * bearer token, and every refusal turned into words a person can act on.
 */

/**
 * @typedef {'PENDING'|'RESERVED'|'PAID'|'COMPLETED'|'COMPENSATING'|'FAILED'|'CANCELLED'} OrderStatus
 * @typedef {'OUT_OF_STOCK'|'PAYMENT_DECLINED'|'PAYMENT_UNAVAILABLE'|'CANCELLED_BY_CUSTOMER'} FailureReason
 * @typedef {{ id: string, name: string, priceCents: number, stock: number }} Product
 * @typedef {{ status: OrderStatus, at: string, reason?: FailureReason }} StatusChange
 * @typedef {{
 *   orderId: string, customerId: string,
 *   items: Array<{ productId: string, quantity: number, priceCents: number }>,
 *   amountCents: number, status: OrderStatus, failureReason: FailureReason | null,
 *   payment: { chargedCents: number, refundedCents: number },
 *   notifications: Array<{ type: string, sentAt: string }>,
 *   history: StatusChange[], startConfirmed: boolean,
 *   createdAt: string, updatedAt: string,
 *   links: { self: string, cancel: string, retry: string, temporalUi: string }
 * }} Order
 * @typedef {{ code: string, message: string, details?: unknown }} ApiErrorBody
 */

/** Cancel is accepted while the order is neither terminal nor already being undone. */
export const CANCELLABLE = new Set(['PENDING', 'RESERVED', 'PAID']);

/** @type {Record<FailureReason, string>} */
export const REASON_WORDS = {
  OUT_OF_STOCK: 'out of stock: nothing was charged',
  PAYMENT_DECLINED: 'card declined: nothing was charged, the stock is back on sale',
  PAYMENT_UNAVAILABLE: 'payment provider unavailable: it can be retried',
  CANCELLED_BY_CUSTOMER: 'cancelled: whatever was charged is refunded',
};

const KEY_STORAGE = 'order-console.api-key';

/** The API key lives in this tab's session storage only: gone when the tab closes, never in a cookie or the URL. */
export const apiKey = {
  /** @returns {string | null} */
  get: () => sessionStorage.getItem(KEY_STORAGE),
  /** @param {string} key */
  set: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} words what the console shows
   * @param {unknown} [details]
   */
  constructor(status, code, words, details) {
    super(words);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * @param {string} method
 * @param {string} path
 * @param {{ body?: unknown, headers?: Record<string, string> }} [options]
 * @returns {Promise<{ status: number, body: any }>} the body is the API's JSON, typed by each caller's JSDoc
 */
export async function call(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...options.headers };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The API did not answer: is it running? The console keeps trying.');
  }
  const text = await res.text();
  /** @type {any} */
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.ok) return { status: res.status, body };
  /** @type {ApiErrorBody} */
  const error = body?.error ?? { code: 'HTTP_' + res.status, message: text.slice(0, 200) };
  throw new ApiError(res.status, error.code, inWords(res.status, error, res.headers.get('retry-after')), error.details);
}

/**
 * @param {number} status
 * @param {ApiErrorBody} error
 * @param {string | null} retryAfter
 */
function inWords(status, error, retryAfter) {
  const wait = retryAfter ? ` Try again in ${retryAfter} s.` : '';
  /** @type {any} */
  const details = error.details ?? {};
  const words = {
    UNKNOWN_PRODUCT: `Unknown product: ${(details.productIds ?? []).join(', ') || 'one of the items'} is not in the catalogue.`,
    OVERLOADED: `The service is overloaded right now and took nothing on.${wait}`,
    RATE_LIMITED: `Too many requests from this caller.${wait}`,
    UNAUTHORIZED: 'This API asks for a key: enter a valid API key.',
    FORBIDDEN: 'Only an admin key may do this.',
    NOT_CANCELLABLE: `Not cancellable: the order is already ${details.status ?? 'finished or being undone'}.`,
    START_IN_PROGRESS: "The order's start is not confirmed yet; try again in a moment.",
    WORKFLOW_CLOSED: "The order's workflow ended without finishing it; an operator must resolve it.",
    NOT_RETRYABLE: 'Not retryable: only orders that FAILED because the payment provider was unavailable can be retried.',
    RETRY_IN_PROGRESS: 'The previous attempt is still closing; try again in a moment.',
    REQUEST_IN_PROGRESS: 'The same request is still being started; try again in a moment.',
    IDEMPOTENCY_KEY_REUSED: 'This request key was already used for another order.',
    // The API's own words: for an order "nothing was changed", for a cancel "it may still apply".
    TEMPORAL_UNAVAILABLE: `The workflow service did not answer in time: ${error.message}`,
    TEMPORAL_START_REFUSED: 'The workflow service refused the start: nothing happened. The service needs fixing.',
    // The API's words say whether nothing was changed or the order may be listed until it is withdrawn.
    DATABASE_UNAVAILABLE: error.message,
    OUTCOME_UNKNOWN: 'The outcome is unknown: look the order up before trying again.',
    STOCK_BELOW_RESERVED: `Open orders hold ${details.reserved ?? 'more'} of it: stock on hand cannot go below that.`,
    VALIDATION_FAILED: `Not valid: ${Array.isArray(details) ? details.map((d) => `${d.path}: ${d.message}`).join('; ') : error.message}`,
    ORDER_NOT_FOUND: 'No such order (or not one of yours).',
    PRODUCT_NOT_FOUND: 'No such product.',
  }[error.code];
  return `${words ?? error.message} (${status} ${error.code})`;
}

/** @param {number} cents */
export const money = (cents) => (cents / 100).toFixed(2);
