// @ts-check
import { ApiError, CANCELLABLE, REASON_WORDS, apiKey, call, money } from './api.js';

/**
 * @typedef {import('./api.js').Order} Order
 * @typedef {import('./api.js').Product} Product
 * @typedef {import('./api.js').OrderStatus} OrderStatus
 */

const STATUSES = ['PENDING', 'RESERVED', 'PAID', 'COMPLETED', 'COMPENSATING', 'FAILED', 'CANCELLED'];
/** Polling, not server-sent events: EventSource cannot send the bearer key (docs/console.md). */
const POLL_MS = 1000;
const COMPENSATING_TOO_LONG_MS = 5 * 60_000;
const UNCONFIRMED_TOO_LONG_MS = 10_000;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing`);
  return el;
}

/**
 * Builds an element; text is always set as text, never parsed as HTML.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {Array<Node | string>} children
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

/** @param {OrderStatus} status */
const statusBadge = (status) => h('span', { class: `status status-${status.toLowerCase()}` }, status);
/** @param {string} iso */
const time = (iso) => h('time', { datetime: iso }, new Date(iso).toLocaleTimeString());
/** @param {string} iso */
const dateTime = (iso) => h('time', { datetime: iso }, new Date(iso).toLocaleString());
/** @param {string} id */
const orderLink = (id) => h('a', { href: `#/orders/${id}`, class: 'order-id' }, id);

/** @param {string} message */
function announce(message) {
  const region = byId('announcer', HTMLDivElement);
  region.textContent = message;
}

/** @param {HTMLElement} el @param {unknown} err */
function showError(el, err) {
  el.textContent = err instanceof Error ? err.message : String(err);
}

/** Where the key stands: `keyed` from the served OpenAPI document, which declares bearer security only when API_KEYS is set. */
const session = { keyed: false, admin: true, name: /** @type {string | null} */ (null) };

async function detectMode() {
  const { body } = await call('GET', '/openapi.json');
  session.keyed = Boolean(body?.components?.securitySchemes?.bearerAuth);
}

/** @returns {Promise<boolean>} whether the stored key (if one is needed) is accepted */
async function checkKey() {
  const who = byId('who', HTMLParagraphElement);
  if (!session.keyed) {
    who.textContent = 'Open API (no API_KEYS): every order is visible.';
    session.admin = true;
    return true;
  }
  if (!apiKey.get()) return false;
  try {
    const { body } = await call('GET', '/api/caller');
    session.name = body.name;
    session.admin = body.admin;
    who.replaceChildren(
      `Key of ${body.name}${body.admin ? ' (admin: every order, stock)' : ' (its own orders)'} `,
      h('button', { type: 'button', id: 'forget-key' }, 'Forget key'),
    );
    byId('forget-key', HTMLButtonElement).addEventListener('click', () => {
      apiKey.clear();
      location.hash = '#/';
      location.reload();
    });
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      apiKey.clear();
      byId('key-result', HTMLParagraphElement).textContent = 'That key is not one of the API keys.';
      return false;
    }
    throw err;
  }
}

// ---- views and routing -------------------------------------------------------

const VIEWS = ['key-view', 'orders-view', 'order-view', 'attention-view', 'stock-view'];
/** @type {{ stop: () => void } | null} */
let poller = null;

/**
 * Runs `tick` now and then every POLL_MS while the tab is visible, never two at once.
 * @param {() => Promise<void>} tick
 */
function poll(tick) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const run = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible') await tick().catch(() => undefined);
    if (!stopped) timer = setTimeout(run, POLL_MS);
  };
  void run();
  return { stop: () => ((stopped = true), clearTimeout(timer)) };
}

/** @param {string} id */
function show(id) {
  for (const view of VIEWS) byId(view, HTMLElement).hidden = view !== id;
}

async function route() {
  poller?.stop();
  poller = null;
  if (session.keyed && !apiKey.get()) {
    show('key-view');
    byId('api-key', HTMLInputElement).focus();
    return;
  }
  byId('stock-link', HTMLAnchorElement).hidden = !session.admin;
  const hash = location.hash.replace(/^#/, '') || '/';
  const order = /^\/orders\/([0-9a-fA-F-]{36})$/.exec(hash);
  if (order) {
    show('order-view');
    startOrderView(order[1] ?? '');
  } else if (hash === '/attention') {
    show('attention-view');
    poller = poll(refreshAttention);
  } else if (hash === '/stock' && session.admin) {
    show('stock-view');
    await refreshStock();
  } else {
    show('orders-view');
    poller = poll(async () => {
      await Promise.all([refreshOrders(), refreshProducts()]);
    });
  }
  document.querySelectorAll('nav a').forEach((a) => {
    const current = a.getAttribute('href') === `#${hash}`;
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

// ---- orders ------------------------------------------------------------------

/** @type {Map<string, OrderStatus>} the statuses last shown, to announce changes */
const lastSeen = new Map();

/** @param {Order[]} orders */
function announceChanges(orders) {
  const changed = [];
  for (const o of orders) {
    const before = lastSeen.get(o.orderId);
    if (before && before !== o.status) changed.push(`Order ${o.orderId.slice(0, 8)} is now ${o.status}`);
    lastSeen.set(o.orderId, o.status);
  }
  if (changed.length > 0) announce(changed.slice(0, 3).join('. ') + (changed.length > 3 ? ` and ${changed.length - 3} more.` : '.'));
}

/** Increases with every list request: an answer to an older one (a filter changed meanwhile) is dropped. */
let listRequest = 0;

async function refreshOrders() {
  const request = ++listRequest;
  const params = new URLSearchParams({ limit: '50' });
  const status = byId('filter-status', HTMLSelectElement).value;
  const customer = byId('filter-customer', HTMLInputElement).value.trim();
  if (status) params.set('status', status);
  if (customer) params.set('customerId', customer);
  const error = byId('orders-error', HTMLParagraphElement);
  try {
    /** @type {{ orders: Order[] }} */
    const { orders } = (await call('GET', `/api/orders?${params}`)).body;
    if (request !== listRequest) return;
    error.textContent = '';
    announceChanges(orders);
    const rows = orders.map((o) =>
      h(
        'tr',
        { 'data-order-id': o.orderId },
        h('td', { 'data-label': 'Order' }, orderLink(o.orderId)),
        h(
          'td',
          { 'data-label': 'Status' },
          statusBadge(o.status),
          ...(o.failureReason ? [' ', h('span', { class: 'reason' }, o.failureReason)] : []),
        ),
        h('td', { 'data-label': 'Customer' }, o.customerId),
        h('td', { 'data-label': 'Amount', class: 'num' }, money(o.amountCents)),
        h('td', { 'data-label': 'Placed' }, time(o.createdAt)),
      ),
    );
    byId('orders-table', HTMLTableElement).tBodies[0]?.replaceChildren(...rows);
    byId('orders-empty', HTMLParagraphElement).hidden = orders.length > 0;
  } catch (err) {
    showError(error, err);
  }
}

/** @type {Product[]} */
let products = [];

async function refreshProducts() {
  /** @type {{ products: Product[] }} */
  const body = (await call('GET', '/api/products')).body;
  products = body.products;
  const select = byId('product', HTMLSelectElement);
  const chosen = select.value;
  select.replaceChildren(
    ...products.map((p) =>
      // Name and stock first: a phone's select shows only the start of the line.
      h('option', { value: p.id }, `${p.name}: ${p.stock > 0 ? `${p.stock} in stock` : 'out of stock'}, ${money(p.priceCents)}`),
    ),
  );
  if (chosen && products.some((p) => p.id === chosen)) select.value = chosen;
}

/** One Idempotency-Key per order the form is placing: a resend after a lost answer finds the same order. */
let pendingKey = /** @type {string | null} */ (null);

/**
 * Answers after which no order of this request goes ahead: refused before anything was written, withdrawn,
 * or (DATABASE_UNAVAILABLE) recorded at most as a start that never came, which the API withdraws. A new key
 * then places the next order at once instead of waiting for that withdrawal.
 */
const NOTHING_HAPPENED_503 = new Set(['OVERLOADED', 'TEMPORAL_UNAVAILABLE', 'TEMPORAL_START_REFUSED', 'DATABASE_UNAVAILABLE']);
/** @param {ApiError} err */
const nothingHappened = (err) =>
  (err.status >= 400 && err.status < 500 && err.code !== 'REQUEST_IN_PROGRESS') || (err.status === 503 && NOTHING_HAPPENED_503.has(err.code));

/** @param {SubmitEvent} event */
async function placeOrder(event) {
  event.preventDefault();
  const result = byId('place-result', HTMLParagraphElement);
  const button = byId('place-form', HTMLFormElement).querySelector('button');
  const body = {
    customerId: byId('customer', HTMLInputElement).value.trim(),
    items: [{ productId: byId('product', HTMLSelectElement).value, quantity: Number(byId('quantity', HTMLInputElement).value) }],
    paymentMethod: byId('payment-method', HTMLSelectElement).value,
  };
  const stock = products.find((p) => p.id === body.items[0]?.productId)?.stock;
  pendingKey ??= crypto.randomUUID();
  if (button) button.disabled = true;
  result.className = 'result';
  result.textContent = 'Placing…';
  try {
    const { body: placed } = await call('POST', '/api/orders', { body, headers: { 'idempotency-key': pendingKey } });
    pendingKey = null;
    result.replaceChildren(
      'Accepted (202): order ',
      orderLink(placed.orderId),
      ` placed (${placed.status}); it moves on in the list below.`,
      stock !== undefined && stock < (body.items[0]?.quantity ?? 0) ? ' Only ' + stock + ' in stock: it will fail OUT_OF_STOCK.' : '',
    );
    await refreshOrders();
  } catch (err) {
    // Only an answer that says nothing happened frees the key for a new request; anything
    // else (no answer, a proxy's 502/504, a 500, OUTCOME_UNKNOWN, REQUEST_IN_PROGRESS) may
    // still become the order, so the next click sends the same key and finds it.
    if (!(err instanceof ApiError) || nothingHappened(err)) pendingKey = null;
    result.className = 'result error';
    showError(result, err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- one order ---------------------------------------------------------------

/** @param {string} orderId */
function startOrderView(orderId) {
  orderId = orderId.toLowerCase();
  byId('order-heading', HTMLHeadingElement).textContent = `Order ${orderId}`;
  byId('order-body', HTMLDivElement).replaceChildren();
  byId('order-action-result', HTMLParagraphElement).textContent = '';
  byId('cancel-button', HTMLButtonElement).hidden = true;
  byId('retry-button', HTMLButtonElement).hidden = true;
  byId('cancel-button', HTMLButtonElement).onclick = () => act(orderId, 'cancel');
  byId('retry-button', HTMLButtonElement).onclick = () => act(orderId, 'retry');
  poller = poll(() => refreshOrder(orderId));
}

/** @param {string} orderId */
async function refreshOrder(orderId) {
  const error = byId('order-error', HTMLParagraphElement);
  try {
    /** @type {Order} */
    const o = (await call('GET', `/api/orders/${orderId}`)).body;
    error.textContent = '';
    announceChanges([o]);
    renderOrder(o);
  } catch (err) {
    showError(error, err);
  }
}

/** @param {Order} o */
function renderOrder(o) {
  const dl = h('dl', { class: 'facts' });
  /** @param {string} term @param {Array<Node | string>} value */
  const fact = (term, ...value) => dl.append(h('dt', {}, term), h('dd', {}, ...value));
  fact('Status', statusBadge(o.status));
  fact('Failure reason', o.failureReason ? `${o.failureReason}: ${REASON_WORDS[o.failureReason]}` : 'none');
  fact('Customer', o.customerId);
  fact('Amount', money(o.amountCents));
  fact('Charged', money(o.payment.chargedCents));
  fact('Refunded', money(o.payment.refundedCents));
  fact('Placed', dateTime(o.createdAt));
  if (!o.startConfirmed) fact('Start', 'not confirmed yet');
  fact('Workflow', h('a', { href: o.links.temporalUi, target: '_blank', rel: 'noopener' }, 'Open in the Temporal Web UI'));

  const lines = h(
    'table',
    { class: 'lines' },
    h('caption', {}, 'Lines'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Quantity'), h('th', { scope: 'col' }, 'Unit price'))),
    h('tbody', {}, ...o.items.map((i) => h('tr', {}, h('td', {}, i.productId), h('td', { class: 'num' }, String(i.quantity)), h('td', { class: 'num' }, money(i.priceCents))))),
  );
  const notifications = o.notifications.length
    ? h('ul', {}, ...o.notifications.map((n) => h('li', {}, `${n.type} `, dateTime(n.sentAt))))
    : h('p', {}, 'None sent.');
  const history = h(
    'ol',
    { class: 'history' },
    ...o.history.map((c) => h('li', {}, time(c.at), ' ', statusBadge(c.status), ...(c.reason ? [' ', h('span', { class: 'reason' }, c.reason)] : []))),
  );
  byId('order-body', HTMLDivElement).replaceChildren(
    dl,
    lines,
    h('h3', {}, 'Notifications'),
    notifications,
    h('h3', { id: 'history-heading' }, 'History'),
    history,
  );
  byId('cancel-button', HTMLButtonElement).hidden = !CANCELLABLE.has(o.status);
  byId('retry-button', HTMLButtonElement).hidden = !(o.status === 'FAILED' && o.failureReason === 'PAYMENT_UNAVAILABLE');
}

/** @param {string} orderId @param {'cancel' | 'retry'} action */
async function act(orderId, action) {
  const result = byId('order-action-result', HTMLParagraphElement);
  result.className = 'result';
  try {
    const { status, body } = await call('POST', `/api/orders/${orderId}/${action}`);
    result.textContent =
      action === 'cancel'
        ? `Cancel accepted (${status}) while ${body.status}: the order will end CANCELLED with nothing charged.`
        : `Retry accepted (${status}): attempt ${body.attempt} is running.`;
  } catch (err) {
    result.className = 'result error';
    showError(result, err);
  }
  await refreshOrder(orderId);
}

// ---- needs attention ---------------------------------------------------------

/** @param {string} query */
const ordersWhere = async (query) => /** @type {Order[]} */ ((await call('GET', `/api/orders?${query}&limit=200`)).body.orders);

/** @param {Order} o @param {string} since */
const attentionItem = (o, since) =>
  h('li', {}, orderLink(o.orderId), ' ', statusBadge(o.status), ` ${o.customerId}, ${money(o.amountCents)}, ${since} `, time(o.updatedAt));

/** @param {string} id @param {Node[]} items @param {string} none */
function fillList(id, items, none) {
  byId(id, HTMLUListElement).replaceChildren(...(items.length ? items : [h('li', { class: 'none' }, none)]));
}

/** @type {Order[]} */
let unavailable = [];

async function refreshAttention() {
  const error = byId('attention-error', HTMLParagraphElement);
  try {
    const now = Date.now();
    const [failed, compensating, unconfirmed] = await Promise.all([
      ordersWhere('status=FAILED&failureReason=PAYMENT_UNAVAILABLE'),
      ordersWhere('status=COMPENSATING'),
      ordersWhere('startConfirmed=false'),
    ]);
    error.textContent = '';
    unavailable = failed;
    const stuck = compensating.filter((o) => now - Date.parse(o.updatedAt) > COMPENSATING_TOO_LONG_MS);
    const unsure = unconfirmed.filter((o) => now - Date.parse(o.updatedAt) > UNCONFIRMED_TOO_LONG_MS);
    fillList('unavailable-list', failed.map((o) => attentionItem(o, 'failed at')), 'None.');
    fillList('compensating-list', stuck.map((o) => attentionItem(o, 'compensating since')), 'None.');
    fillList('unconfirmed-list', unsure.map((o) => attentionItem(o, 'unconfirmed since')), 'None.');
    byId('retry-all-button', HTMLButtonElement).disabled = failed.length === 0;
    const count = failed.length + stuck.length + unsure.length;
    const badge = byId('attention-count', HTMLSpanElement);
    badge.hidden = count === 0;
    badge.textContent = String(count);
  } catch (err) {
    showError(error, err);
  }
}

/** Re-drives each order through POST /api/orders/:id/retry, one after another, and reports every answer. */
async function retryAll() {
  const button = byId('retry-all-button', HTMLButtonElement);
  const answers = byId('retry-all-result', HTMLUListElement);
  const orders = [...unavailable];
  button.disabled = true;
  answers.replaceChildren();
  let accepted = 0;
  for (const o of orders) {
    try {
      const { status, body } = await call('POST', `/api/orders/${o.orderId}/retry`);
      accepted += 1;
      answers.append(h('li', {}, orderLink(o.orderId), `: retry accepted (${status}), attempt ${body.attempt}.`));
    } catch (err) {
      answers.append(h('li', { class: 'error' }, orderLink(o.orderId), `: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
  announce(`Retry all: ${accepted} of ${orders.length} accepted.`);
  await refreshAttention();
}

// ---- stock (admin) -------------------------------------------------------------

async function refreshStock() {
  await refreshProducts();
  byId('stock-body', HTMLTableSectionElement).replaceChildren(
    ...products.map((p) => {
      const input = h('input', { type: 'number', min: '0', value: String(p.stock), id: `stock-${p.id}`, 'aria-label': `On hand of ${p.name}` });
      const save = h('button', { type: 'button' }, 'Save');
      save.setAttribute('aria-label', `Save ${p.name}`);
      save.addEventListener('click', () => saveStock(p, Number(/** @type {HTMLInputElement} */ (input).value)));
      return h(
        'tr',
        {},
        h('td', { 'data-label': 'Product' }, `${p.name} (${p.id})`),
        h('td', { 'data-label': 'Price', class: 'num' }, money(p.priceCents)),
        h('td', { 'data-label': 'Available', class: 'num' }, String(p.stock)),
        h('td', { 'data-label': 'Set on hand' }, input, ' ', save),
      );
    }),
  );
}

/** @param {Product} p @param {number} stock */
async function saveStock(p, stock) {
  const result = byId('stock-result', HTMLParagraphElement);
  result.className = 'result';
  try {
    const { status, body } = await call('PUT', `/api/products/${encodeURIComponent(p.id)}`, {
      body: { name: p.name, priceCents: p.priceCents, stock },
    });
    result.textContent = `Saved (${status}): ${body.name} has ${body.stock} available.`;
    await refreshStock();
  } catch (err) {
    result.className = 'result error';
    showError(result, err);
  }
}

// ---- start -------------------------------------------------------------------

async function main() {
  const statusFilter = byId('filter-status', HTMLSelectElement);
  statusFilter.append(...STATUSES.map((s) => h('option', { value: s }, s)));
  byId('place-form', HTMLFormElement).addEventListener('submit', (e) => void placeOrder(e));
  byId('filter-form', HTMLFormElement).addEventListener('submit', (e) => e.preventDefault());
  statusFilter.addEventListener('change', () => void refreshOrders());
  byId('filter-customer', HTMLInputElement).addEventListener('input', () => void refreshOrders());
  byId('retry-all-button', HTMLButtonElement).addEventListener('click', () => void retryAll());
  byId('key-form', HTMLFormElement).addEventListener('submit', async (e) => {
    e.preventDefault();
    apiKey.set(byId('api-key', HTMLInputElement).value.trim());
    byId('api-key', HTMLInputElement).value = '';
    if (await checkKey()) await route();
  });
  window.addEventListener('hashchange', () => void route());
  await detectMode();
  await checkKey();
  await route();
}

main().catch((err) => {
  document.body.prepend(h('p', { class: 'error', role: 'alert' }, `The console could not start: ${err instanceof Error ? err.message : String(err)}`));
});
