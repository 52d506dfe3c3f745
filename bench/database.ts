import pg from 'pg';
import { migrate } from '../lib/db/migrate';
import { createPool, type Pool } from '../lib/db/pool';
import { upsertProduct, type Product } from '../store/catalogue';
import { isSlowCharge } from '../providers/simulated-payment-provider';

/** Products every run orders from; `bench-empty` has no stock, for the out-of-stock share. */
export const BENCH_PRODUCTS: Product[] = [
  ...Array.from({ length: 5 }, (_, i) => ({ id: `bench-${i + 1}`, name: `Bench product ${i + 1}`, priceCents: 1000 + i * 250, stock: 10_000_000 })),
  { id: 'bench-empty', name: 'Never in stock', priceCents: 999, stock: 0 },
];

/**
 * A new, empty database for one phase of one design: each phase starts from the
 * same state and leftovers of a previous phase cannot disturb it.
 */
export async function freshDatabase(baseUrl: string, name: string): Promise<{ url: string; pool: Pool }> {
  const admin = new URL(baseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const pool = createPool(url.toString(), 4);
  // Used only by the RabbitMQ baseline to tell when its three consumers are done.
  await pool.query(`CREATE TABLE bench_rabbit_steps (
    order_id uuid NOT NULL, step text NOT NULL, ok boolean NOT NULL, reason text,
    at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (order_id, step))`);
  for (const p of BENCH_PRODUCTS) await upsertProduct(pool, p);
  return { url: url.toString(), pool };
}

export async function dropDatabase(baseUrl: string, name: string): Promise<void> {
  const admin = new URL(baseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).finally(() => client.end());
}

export interface FinalState {
  status: string;
  /** When the row took its terminal status, in ms since the epoch (database clock, same machine). */
  atMs: number;
}

/** Terminal orders among `ids`, with the time each became terminal. */
export async function terminalOrders(pool: Pool, ids: string[]): Promise<Map<string, FinalState>> {
  const res = await pool.query<{ id: string; status: string; at_ms: number }>(
    `SELECT id, status, (extract(epoch FROM updated_at) * 1000)::float8 AS at_ms FROM orders
     WHERE id = ANY($1::uuid[]) AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')`,
    [ids],
  );
  return new Map(res.rows.map((r) => [r.id, { status: r.status, atMs: r.at_ms }]));
}

/** What the floor design can check: it keeps no stock or money, so only an order that never ended. */
export type FloorViolations = Pick<Violations, 'neverTerminal'> & { checked: 'neverTerminal only' };

export interface Violations {
  chargedWithoutStock: number;
  stockLostOrCreated: number;
  doubleCharges: number;
  neverTerminal: number;
  /** Not one of the four invariants `countViolations` sums, reported beside them: money kept for an order that did not complete, or missing for one that did. */
  moneyMismatch: number;
  /** A confirmation sent for an order that did not complete. */
  confirmedNotCompleted: number;
  /** Products whose available stock (on hand - reserved) changed by other than the quantities of COMPLETED orders. */
  productsWithStockDrift: number;
  /**
   * Orders whose cancel was answered 202 that did not end CANCELLED with nothing
   * charged (net of refunds, in our record or in the provider's ledger). Only the
   * Temporal design has a cancel route; for the baselines no cancel is sent and
   * this is 0.
   */
  cancelNotHonoured: number;
}

/**
 * The saga's invariants (docs/benchmarks.md, failure mix), checked per order and per product after a run.
 * An order "holds stock" while it has a RESERVED (held) or COMMITTED (taken off
 * the shelf on completion) reservation, i.e. one that was not released.
 */
export async function findViolations(pool: Pool, cancelAccepted: string[] = []): Promise<Violations> {
  const orders = await pool.query(
    `WITH net AS (
       SELECT order_id, sum(charged_cents - refunded_cents) AS net, count(*) FILTER (WHERE charged_cents > 0) AS charges
       FROM payments GROUP BY order_id
     ), held AS (
       SELECT order_id, bool_or(status IN ('RESERVED', 'COMMITTED')) AS holds FROM inventory_reservations GROUP BY order_id
     ), sent AS (
       SELECT order_id, count(*) AS n FROM notifications WHERE type = 'order_confirmed' GROUP BY order_id
     )
     SELECT
       count(*) FILTER (WHERE coalesce(net.net, 0) > 0 AND NOT coalesce(held.holds, false)) AS charged_without_stock,
       count(*) FILTER (WHERE (o.status = 'COMPLETED') <> coalesce(held.holds, false)) AS stock_lost_or_created,
       count(*) FILTER (WHERE coalesce(net.net, 0) > o.amount_cents OR coalesce(net.charges, 0) > 1) AS double_charges,
       count(*) FILTER (WHERE o.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')) AS never_terminal,
       count(*) FILTER (WHERE coalesce(net.net, 0) <> CASE WHEN o.status = 'COMPLETED' THEN o.amount_cents ELSE 0 END) AS money_mismatch,
       count(*) FILTER (WHERE coalesce(sent.n, 0) > 0 AND o.status <> 'COMPLETED') AS confirmed_not_completed
     FROM orders o
     LEFT JOIN net ON net.order_id = o.id
     LEFT JOIN held ON held.order_id = o.id
     LEFT JOIN sent ON sent.order_id = o.id`,
  );
  const drift = await pool.query(
    `SELECT count(*) AS n FROM unnest($1::text[], $2::int[]) AS initial(id, stock)
     JOIN products p ON p.id = initial.id
     WHERE p.stock + coalesce((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
                               WHERE i.product_id = p.id AND o.status = 'COMPLETED'), 0) <> initial.stock`,
    [BENCH_PRODUCTS.map((p) => p.id), BENCH_PRODUCTS.map((p) => p.stock)],
  );
  // Both records of the money: ours (payments) is what the API shows; the
  // provider's ledger is what the customer was actually charged, and a charge
  // landing after its refund would show only there.
  const cancels = await pool.query<{ order_id: string }>(
    `SELECT o.id AS order_id FROM orders o
     WHERE o.id = ANY($1::uuid[]) AND (
       o.status <> 'CANCELLED'
       OR coalesce((SELECT sum(charged_cents - refunded_cents) FROM payments p WHERE p.order_id = o.id), 0) <> 0
       OR coalesce((SELECT sum(amount_cents - refunded_cents) FROM simulated_provider.charges c
                    WHERE c.idempotency_key LIKE 'order-' || o.id || '-%'), 0) <> 0)`,
    [cancelAccepted],
  );
  const r = orders.rows[0];
  return {
    chargedWithoutStock: r.charged_without_stock,
    stockLostOrCreated: r.stock_lost_or_created,
    doubleCharges: r.double_charges,
    neverTerminal: r.never_terminal,
    moneyMismatch: r.money_mismatch,
    confirmedNotCompleted: r.confirmed_not_completed,
    productsWithStockDrift: drift.rows[0].n,
    cancelNotHonoured: cancels.rowCount ?? 0,
  };
}

/**
 * Payments the simulated provider made slow (PAYMENT_SLOW_RATE), among those
 * whose key reached its ledger: a charge was sent, or a refund cancelled the key
 * (possibly before its charge was sent, so this is an upper bound on the slow
 * calls made). Each counts once however often its charge was retried.
 */
export async function slowCharges(pool: Pool, slowRate: number): Promise<number> {
  if (slowRate <= 0) return 0;
  const res = await pool.query<{ idempotency_key: string }>(`SELECT idempotency_key FROM simulated_provider.charges`);
  return res.rows.filter((r) => isSlowCharge(r.idempotency_key, slowRate)).length;
}

/**
 * The four invariants (charged without stock, stock lost or created, double charge,
 * never terminal) and accepted cancels not honoured, summed: the `violations`
 * figure of the report. The last is 0 for designs that were sent no cancel.
 */
export function countViolations(v: Violations | FloorViolations): number {
  if (!('chargedWithoutStock' in v)) return v.neverTerminal;
  return v.chargedWithoutStock + v.stockLostOrCreated + v.doubleCharges + v.neverTerminal + v.cancelNotHonoured;
}
