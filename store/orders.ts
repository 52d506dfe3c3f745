import type { Queryable } from '../lib/db/pool';
import type { FailureReason, OrderInput, OrderRef, OrderStatus } from '../workflows/types';

/**
 * SQL for the order record. The API reads through these functions and the
 * activities write through them, so the row's shape lives in one place.
 */

export interface OrderView {
  orderId: string;
  customerId: string;
  items: Array<{ productId: string; quantity: number; priceCents: number }>;
  amountCents: number;
  paymentMethod: string;
  status: OrderStatus;
  failureReason: FailureReason | null;
  attempt: number;
  /** The API caller that placed it; null for orders placed while the API was open, or before callers existed. */
  owner: string | null;
  payment: { chargedCents: number; refundedCents: number };
  notifications: Array<{ type: string; sentAt: string }>;
  /** Every status change, oldest first (order_status_history, written by a trigger with the change itself). */
  history: StatusChange[];
  /**
   * False while the workflow start of the current attempt is not confirmed (start_state STARTING):
   * for a few milliseconds normally; for long only when the request that began it was never
   * answered, until the sweep withdraws it (api/orders/start-sweep.ts).
   */
  startConfirmed: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface StatusChange {
  status: OrderStatus;
  at: string;
  /** The failure reason the order had from then on; absent when it had none. */
  reason?: FailureReason;
}

export interface OrderIdentity {
  orderId: string;
  status: OrderStatus;
  failureReason: FailureReason | null;
  attempt: number;
  requestHash: string | null;
  startState: 'STARTING' | 'STARTED';
  owner: string | null;
}

/**
 * Inserts the order and its lines unless the id exists; for a later attempt of an
 * existing order it moves the row to that attempt and back to PENDING. Returns
 * true when this call created the order. The API inserts with `startState`
 * STARTING (the workflow start is still to come); see markStarted.
 */
export async function insertOrder(
  db: Queryable,
  input: OrderInput,
  startState: 'STARTING' | 'STARTED' = 'STARTED',
): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO orders (id, customer_id, payment_method, amount_cents, status, attempt, idempotency_key, request_hash,
                         start_state)
     VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE
       SET attempt = EXCLUDED.attempt, status = 'PENDING', failure_reason = NULL, updated_at = now()
       WHERE orders.attempt < EXCLUDED.attempt
     RETURNING (xmax = 0) AS inserted`,
    [...rowValues(input), startState],
  );
  const inserted = res.rows[0]?.inserted === true;
  if (inserted) await insertLines(db, input);
  return inserted;
}

/**
 * The API's insert of a new order for `owner` (null: the API is open), start
 * STARTING under the request's `startToken`. Returns false, writing nothing,
 * when this owner already has an order with the same Idempotency-Key: a twin
 * request inserted first.
 */
export async function insertNewOrder(db: Queryable, input: OrderInput, owner: string | null, startToken: string): Promise<boolean> {
  // One statement, so one round trip and atomic without a transaction: the lines
  // are inserted only if the order row was (a twin's key conflict inserts neither).
  const res = await db.query<{ inserted: number }>(
    `WITH o AS (
       INSERT INTO orders (id, customer_id, payment_method, amount_cents, status, attempt, idempotency_key, request_hash,
                           start_state, owner, start_token)
       VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, 'STARTING', $8, $12)
       ON CONFLICT ((coalesce(owner, '')), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id
     ), lines AS (
       INSERT INTO order_items (order_id, product_id, quantity, price_cents)
       SELECT o.id, l.* FROM o, unnest($9::text[], $10::int[], $11::int[]) AS l
     )
     SELECT count(*)::int AS inserted FROM o`,
    [...rowValues(input), owner, ...lineValues(input), startToken],
  );
  return (res.rows[0]?.inserted ?? 0) > 0;
}

/** $1..$7 of both inserts: id, customer_id, payment_method, amount_cents, attempt, idempotency_key, request_hash. */
function rowValues(input: OrderInput): unknown[] {
  return [
    input.orderId,
    input.customerId,
    input.paymentMethod,
    input.amountCents,
    input.attempt,
    input.idempotencyKey,
    input.requestHash,
  ];
}

/** The lines as three arrays, for `unnest`: product ids, quantities, unit prices. */
function lineValues(input: OrderInput): unknown[] {
  return [input.items.map((i) => i.productId), input.items.map((i) => i.quantity), input.items.map((i) => i.priceCents)];
}

async function insertLines(db: Queryable, input: OrderInput): Promise<void> {
  await db.query(
    `INSERT INTO order_items (order_id, product_id, quantity, price_cents)
     SELECT $1, * FROM unnest($2::text[], $3::int[], $4::int[])
     ON CONFLICT DO NOTHING`,
    [input.orderId, ...lineValues(input)],
  );
}

/**
 * Moves the order of this attempt from one of `from` to `to`. Guarding on the
 * attempt keeps a late activity of an earlier run from touching a retried order;
 * guarding on `from` makes a retried transition a no-op. Returns whether it moved.
 */
export async function transition(
  db: Queryable,
  ref: OrderRef,
  from: readonly OrderStatus[],
  to: OrderStatus,
  failureReason: FailureReason | null = null,
): Promise<boolean> {
  const res = await db.query(
    `UPDATE orders SET status = $3, failure_reason = $4, updated_at = now()
     WHERE id = $1 AND attempt = $2 AND status = ANY($5::text[])`,
    [ref.orderId, ref.attempt, to, failureReason, from],
  );
  return (res.rowCount ?? 0) > 0;
}

/** An order is not where the saga expects it: the database and the workflow disagree. */
export class OrderStateConflictError extends Error {}

/**
 * Like transition, for the saga's own status writes: moving again to where the
 * order already is counts as done (a retried activity), anything else throws a
 * retryable OrderStateConflictError. The local activity then keeps retrying with
 * backoff and the worker logs each attempt, so a drift between the database and
 * the workflow is loud and waits for an operator instead of passing unnoticed.
 */
export async function moveOrder(
  db: Queryable,
  ref: OrderRef,
  from: readonly OrderStatus[],
  to: OrderStatus,
  failureReason: FailureReason | null = null,
): Promise<void> {
  if (await transition(db, ref, from, to, failureReason)) return;
  const res = await db.query<{ status: OrderStatus; attempt: number; failure_reason: FailureReason | null }>(
    `SELECT status, attempt, failure_reason FROM orders WHERE id = $1`,
    [ref.orderId],
  );
  const row = res.rows[0];
  if (row && row.attempt === ref.attempt && row.status === to && row.failure_reason === failureReason) return;
  const found = row ? `${row.status} (attempt ${row.attempt})` : 'missing';
  throw new OrderStateConflictError(
    `Order ${ref.orderId} attempt ${ref.attempt}: expected ${from.join('/')} to move to ${to}, found ${found}`,
  );
}

/**
 * Claims the attempt for one workflow run (identified by its first run id): the
 * run itself does so as its first step, and the API does so for the run its own
 * start created. Only under the token of the request that committed the attempt
 * (`startToken`, carried in the run's input): a run left over from an earlier
 * request of the same attempt number, withdrawn and answered 503, never claims
 * an attempt a later request committed. Returns false when the row is gone (the
 * API withdrew it and answered 503), belongs to another request's token, or was
 * claimed by another run: either way this run must do nothing. Claiming again
 * for the same run (a retried activity, a lost reply) succeeds.
 */
export async function markStarted(db: Queryable, ref: OrderRef, runId: string, startToken: string | null): Promise<boolean> {
  const res = await db.query(
    `UPDATE orders SET start_state = 'STARTED', claimed_run_id = $3
     WHERE id = $1 AND attempt = $2 AND start_token IS NOT DISTINCT FROM $4::uuid
       AND (start_state = 'STARTING' OR claimed_run_id = $3)`,
    [ref.orderId, ref.attempt, runId, startToken],
  );
  return (res.rowCount ?? 0) > 0;
}

/** How a start that the API could not confirm was settled: taken back, or held by a run that goes ahead. */
export type StartSettlement = 'WITHDRAWN' | 'CLAIMED';

/**
 * Moves a FAILED order from attempt `ref.attempt - 1` to `ref.attempt`, PENDING
 * and STARTING under `startToken`, for a retry. False when the order is not (or
 * no longer) FAILED at that attempt with PAYMENT_UNAVAILABLE. What it overwrites
 * is kept in the prior_* columns (migration 008), so that withdrawStart can put
 * the order back exactly as it was.
 */
export async function moveToNextAttempt(db: Queryable, ref: OrderRef, startToken: string): Promise<boolean> {
  // The right-hand sides read the row as it was before this UPDATE.
  const res = await db.query(
    `UPDATE orders SET attempt = $2, status = 'PENDING', failure_reason = NULL, start_state = 'STARTING',
                       claimed_run_id = NULL, start_token = $3, updated_at = now(),
                       prior_updated_at = updated_at, prior_start_state = start_state,
                       prior_start_token = start_token, prior_claimed_run_id = claimed_run_id
     WHERE id = $1 AND attempt = $2 - 1 AND status = 'FAILED' AND failure_reason = 'PAYMENT_UNAVAILABLE'`,
    [ref.orderId, ref.attempt, startToken],
  );
  return (res.rowCount ?? 0) > 0;
}

/** The 503 a withdrawn start was answered with: its code, and the cause of a refused start. */
export interface StartRefusal {
  code: string;
  cause: string | null;
}

/**
 * Why the first attempt of `orderId` was withdrawn, when it had an
 * Idempotency-Key (only such an order can have a twin request waiting for it).
 */
export async function findStartRefusal(db: Queryable, orderId: string): Promise<StartRefusal | null> {
  const res = await db.query<StartRefusal>(`SELECT code, cause FROM start_refusals WHERE order_id = $1`, [orderId]);
  return res.rows[0] ?? null;
}

/** The latest refusal of an order `owner` placed with this Idempotency-Key in the last `withinMs`. */
export async function findStartRefusalByKey(db: Queryable, owner: string | null, key: string, withinMs: number): Promise<StartRefusal | null> {
  const res = await db.query<StartRefusal>(
    `SELECT code, cause FROM start_refusals
     WHERE coalesce(owner, '') = $1 AND idempotency_key = $2 AND refused_at > now() - make_interval(secs => $3::float8 / 1000)
     ORDER BY refused_at DESC LIMIT 1`,
    [owner ?? '', key, withinMs],
  );
  return res.rows[0] ?? null;
}

/**
 * Takes back the attempt that `startToken`'s request put into STARTING, if and
 * only if no run has claimed it: a first attempt's row is deleted, a retry's row
 * goes back to the FAILED attempt before it exactly as it was (updated_at, start
 * token and claim from the prior_* columns; migration 008's trigger takes back the
 * attempt's history). PostgreSQL orders this against markStarted, so exactly one
 * of "withdrawn" and "claimed" happens.
 *
 * Matching no row is read, not guessed: the attempt may be claimed (CLAIMED),
 * or already withdrawn, by an earlier try of this call whose reply was lost or
 * by the sweep of unconfirmed starts (WITHDRAWN either way: what this request
 * started is gone, and nothing will act on it).
 *
 * A first attempt with an Idempotency-Key leaves `refusal` (if given) behind in
 * start_refusals, written with the delete: the answer for a twin request that
 * waits for this one (findStartRefusal). A retry's attempt leaves none.
 */
export async function withdrawStart(db: Queryable, ref: OrderRef, startToken: string | null, refusal: StartRefusal | null = null): Promise<StartSettlement> {
  const res =
    ref.attempt === 1
      ? await db.query(
          // One statement: the order is gone and its refusal recorded together, or neither.
          `WITH gone AS (
             DELETE FROM orders WHERE id = $1 AND attempt = 1 AND start_state = 'STARTING'
                    AND start_token IS NOT DISTINCT FROM $2::uuid
             RETURNING id, owner, idempotency_key
           ), noted AS (
             INSERT INTO start_refusals (order_id, owner, idempotency_key, code, cause)
             SELECT id, owner, idempotency_key, $3, $4 FROM gone WHERE idempotency_key IS NOT NULL AND $3::text IS NOT NULL
             ON CONFLICT (order_id) DO NOTHING
           ), pruned AS (
             -- Rows another withdrawal is pruning are skipped, not waited for: two prunes never block each other.
             DELETE FROM start_refusals WHERE order_id IN (
               SELECT order_id FROM start_refusals WHERE refused_at < now() - interval '1 hour' LIMIT 100 FOR UPDATE SKIP LOCKED)
           )
           SELECT id FROM gone`,
          [ref.orderId, startToken, refusal?.code ?? null, refusal?.cause ?? null],
        )
      : await db.query(
          `UPDATE orders SET attempt = attempt - 1, status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE',
                             start_state = coalesce(prior_start_state, 'STARTED'), start_token = prior_start_token,
                             claimed_run_id = prior_claimed_run_id, updated_at = coalesce(prior_updated_at, now()),
                             prior_updated_at = NULL, prior_start_state = NULL, prior_start_token = NULL,
                             prior_claimed_run_id = NULL
           WHERE id = $1 AND attempt = $2 AND start_state = 'STARTING' AND start_token IS NOT DISTINCT FROM $3::uuid`,
          [ref.orderId, ref.attempt, startToken],
        );
  if ((res.rowCount ?? 0) > 0) return 'WITHDRAWN';
  const row = await startRowOf(db, ref.orderId);
  return row?.attempt === ref.attempt && row.start_token === startToken && row.start_state === 'STARTED' ? 'CLAIMED' : 'WITHDRAWN';
}

/**
 * The API's confirmation of a start that created a run: claims the attempt for
 * `runId` under the request's own token. CLAIMED when this run holds it (the
 * run's own claim may have come first); WITHDRAWN when the attempt was taken
 * back meanwhile (the sweep of unconfirmed starts, after a start that took far
 * too long), so nothing will act on it. Safe to repeat after a lost reply.
 */
export async function confirmStart(db: Queryable, ref: OrderRef, runId: string, startToken: string): Promise<StartSettlement> {
  // Refused means the attempt is gone or another request's: only the run this
  // request created carries its token, and a repeat for that run succeeds.
  return (await markStarted(db, ref, runId, startToken)) ? 'CLAIMED' : 'WITHDRAWN';
}

async function startRowOf(db: Queryable, orderId: string) {
  const res = await db.query<{ attempt: number; start_state: 'STARTING' | 'STARTED'; start_token: string | null }>(
    `SELECT attempt, start_state, start_token FROM orders WHERE id = $1`,
    [orderId],
  );
  return res.rows[0];
}

/** An attempt whose start stayed unconfirmed, with the token of the request that began it. */
export interface UnconfirmedStart extends OrderRef {
  startToken: string | null;
}

/** Attempts whose start stayed unconfirmed for longer than `olderThanMs`: the sweep withdraws them. */
export async function findUnconfirmedStarts(db: Queryable, olderThanMs: number, limit = 100): Promise<UnconfirmedStart[]> {
  const res = await db.query<{ id: string; attempt: number; start_token: string | null }>(
    `SELECT id, attempt, start_token FROM orders
     WHERE start_state = 'STARTING' AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
     ORDER BY created_at LIMIT $2`,
    [olderThanMs, limit],
  );
  return res.rows.map((r) => ({ orderId: r.id, attempt: r.attempt, startToken: r.start_token }));
}

const IDENTITY_COLUMNS = 'id, status, failure_reason, attempt, request_hash, start_state, owner';
interface IdentityRow {
  id: string;
  status: OrderStatus;
  failure_reason: FailureReason | null;
  attempt: number;
  request_hash: string | null;
  start_state: 'STARTING' | 'STARTED';
  owner: string | null;
}

/** Lock-free lookup used by the API to decide idempotent replays, cancel and retry. */
export async function findOrderIdentity(db: Queryable, orderId: string): Promise<OrderIdentity | null> {
  return identityOf(await db.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM orders WHERE id = $1`, [orderId]));
}

/** The order `owner` (null: the open API's) placed with this Idempotency-Key: keys are scoped per caller. */
export async function findOrderIdentityByKey(db: Queryable, owner: string | null, key: string): Promise<OrderIdentity | null> {
  return identityOf(
    await db.query<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM orders
       WHERE coalesce(owner, '') = $1 AND idempotency_key = $2 AND idempotency_key IS NOT NULL`,
      [owner ?? '', key],
    ),
  );
}

function identityOf(res: { rows: IdentityRow[] }): OrderIdentity | null {
  const row = res.rows[0];
  if (!row) return null;
  return {
    orderId: row.id,
    status: row.status,
    failureReason: row.failure_reason,
    attempt: row.attempt,
    requestHash: row.request_hash,
    startState: row.start_state,
    owner: row.owner,
  };
}

export interface OrderFilter {
  status?: OrderStatus;
  failureReason?: FailureReason;
  customerId?: string;
  /** Only orders whose start is (true) or is not yet (false) confirmed. */
  startConfirmed?: boolean;
  /** Only this caller's orders; unset: everybody's. */
  owner?: string;
  limit: number;
}

export async function getOrder(db: Queryable, orderId: string): Promise<OrderView | null> {
  const [order] = await loadOrders(db, `WHERE o.id = $1`, [orderId], 1);
  return order ?? null;
}

export async function listOrders(db: Queryable, filter: OrderFilter): Promise<OrderView[]> {
  return loadOrders(
    db,
    `WHERE ($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR o.customer_id = $2)
       AND ($3::text IS NULL OR o.owner = $3) AND ($4::text IS NULL OR o.failure_reason = $4)
       AND ($5::boolean IS NULL OR (o.start_state = 'STARTED') = $5)`,
    [filter.status ?? null, filter.customerId ?? null, filter.owner ?? null, filter.failureReason ?? null, filter.startConfirmed ?? null],
    filter.limit,
  );
}

/** One round trip: lines, payment totals, notifications and history are aggregated per order. */
async function loadOrders(db: Queryable, where: string, params: unknown[], limit: number): Promise<OrderView[]> {
  const res = await db.query(
    `SELECT o.id, o.customer_id, o.payment_method, o.amount_cents, o.status, o.failure_reason, o.attempt, o.owner,
            o.created_at, o.updated_at,
            COALESCE((SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
                                                        'priceCents', i.price_cents) ORDER BY i.product_id)
                      FROM order_items i WHERE i.order_id = o.id), '[]') AS items,
            COALESCE((SELECT sum(p.charged_cents) FROM payments p WHERE p.order_id = o.id), 0)::bigint AS charged_cents,
            COALESCE((SELECT sum(p.refunded_cents) FROM payments p WHERE p.order_id = o.id), 0)::bigint AS refunded_cents,
            COALESCE((SELECT json_agg(json_build_object('type', n.type, 'sentAt', n.sent_at) ORDER BY n.sent_at)
                      FROM notifications n WHERE n.order_id = o.id), '[]') AS notifications,
            COALESCE((SELECT json_agg(json_strip_nulls(json_build_object('status', h.status, 'at', h.at, 'reason', h.reason))
                                      ORDER BY h.id)
                      FROM order_status_history h WHERE h.order_id = o.id), '[]') AS history,
            o.start_state = 'STARTED' AS start_confirmed
     FROM orders o ${where}
     ORDER BY o.created_at DESC, o.id
     LIMIT ${Number(limit)}`,
    params,
  );
  return res.rows.map((row) => ({
    orderId: row.id,
    customerId: row.customer_id,
    items: row.items,
    amountCents: row.amount_cents,
    paymentMethod: row.payment_method,
    status: row.status,
    failureReason: row.failure_reason,
    attempt: row.attempt,
    owner: row.owner,
    payment: { chargedCents: row.charged_cents, refundedCents: row.refunded_cents },
    notifications: row.notifications,
    history: row.history,
    startConfirmed: row.start_confirmed,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }));
}
