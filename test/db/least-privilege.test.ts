import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities';
import { paymentIdempotencyKey } from '../../providers/payment-provider';
import { seedCatalogueIfEmpty } from '../../store/catalogue';
import { moveToNextAttempt, withdrawStart } from '../../store/orders';
import { createDatabaseIfMissing, migrate } from '../../lib/db/migrate';
import { createPool } from '../../lib/db/pool';
import { PROJECT_ROOT } from '../../lib/paths';
import { freshProduct } from '../support/db';
import { call, untilStatus, untilTerminal } from '../support/http';
import { startStack, type Stack } from '../support/stack';

/**
 * docker/postgres-init.sql, the compose stack's roles, run against the suite's
 * PostgreSQL: the owner role migrates, the application role reads and writes
 * rows and can change no schema. psql is not installed here, so runInitSql()
 * does for the file what `psql -v name=value -f` does: :"name" is an identifier,
 * :'name' a literal, \connect switches database, each statement runs on its own.
 */
const suffix = `${process.pid}_${Date.now()}`;
const vars = {
  temporal_role: `lp_temporal_${suffix}`,
  owner_role: `lp_owner_${suffix}`,
  app_role: `lp_app_${suffix}`,
  orders_db: `lp_orders_${suffix}`,
  temporal_password: randomBytes(12).toString('hex'),
  owner_password: randomBytes(12).toString('hex'),
  app_password: `it's-${randomBytes(6).toString('hex')}`, // a quote, as a real password may have
};

const superuserUrl = (db: string) => {
  const url = new URL(inject('testEnv').databaseUrl);
  url.pathname = `/${db}`;
  return url.toString();
};
const roleUrl = (role: string, password: string) => {
  const url = new URL(superuserUrl(vars.orders_db));
  url.username = role;
  url.password = password;
  return url.toString();
};
const ownerUrl = () => roleUrl(vars.owner_role, vars.owner_password);
const appUrl = () => roleUrl(vars.app_role, vars.app_password);

async function runInitSql(): Promise<void> {
  const sql = readFileSync(path.join(PROJECT_ROOT, 'docker', 'postgres-init.sql'), 'utf8');
  const value = (name: string) => {
    if (!(name in vars)) throw new Error(`postgres-init.sql uses :${name}, which docker/postgres-init.sh does not pass`);
    return vars[name as keyof typeof vars];
  };
  const interpolated = sql
    .replace(/:"(\w+)"/g, (_, name: string) => pg.escapeIdentifier(value(name)))
    .replace(/:'(\w+)'/g, (_, name: string) => pg.escapeLiteral(value(name)));
  let client = new pg.Client({ connectionString: superuserUrl('postgres') });
  await client.connect();
  try {
    const withoutComments = interpolated.replace(/--.*$/gm, '');
    for (const chunk of withoutComments.split(/;\s*$/m)) {
      for (const line of chunk.split('\n').filter((l) => l.trim().startsWith('\\'))) {
        const connect = /^\\connect\s+"?([^"\s]+)"?/.exec(line.trim());
        if (connect) {
          await client.end();
          client = new pg.Client({ connectionString: superuserUrl(connect[1]!) });
          await client.connect();
        } else if (!/^\\set ON_ERROR_STOP on$/.test(line.trim())) throw new Error(`unexpected psql command ${line}`);
      }
      const statement = chunk.split('\n').filter((l) => !l.trim().startsWith('\\')).join('\n').trim();
      if (statement) await client.query(statement);
    }
  } finally {
    await client.end();
  }
}

async function asRole<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

beforeAll(runInitSql);

let stack: Stack | undefined;
afterAll(async () => {
  await stack?.stop();
  await asRole(superuserUrl('postgres'), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(vars.orders_db)} WITH (FORCE)`);
    for (const role of [vars.app_role, vars.owner_role, vars.temporal_role]) {
      await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
    }
  });
});

describe('the compose stack database roles (docker/postgres-init.sql)', () => {
  it('the application role cannot migrate an empty database, and says who must', async () => {
    await expect(createDatabaseIfMissing(appUrl())).resolves.toBe(false);
    await expect(migrate(appUrl())).rejects.toThrow(/Migrations are pending and lp_app_\S+ may not change the schema.*npm run migrate/);
  });

  it('the owner role applies the migrations; the application role then starts without DDL', async () => {
    expect((await migrate(ownerUrl())).length).toBeGreaterThanOrEqual(3);
    await expect(migrate(appUrl())).resolves.toEqual([]);
  });

  it('the application role reads and writes rows of tables the owner created', async () => {
    const pool = new pg.Pool({ connectionString: appUrl(), max: 1 });
    try {
      expect(await seedCatalogueIfEmpty(pool)).toBeGreaterThan(0);
    } finally {
      await pool.end();
    }
    await asRole(appUrl(), async (app) => {
      await app.query(`UPDATE products SET on_hand = on_hand + 1 WHERE id = 'sku-1'`);
      const { rows } = await app.query<{ stock: number }>(`SELECT stock FROM products WHERE id = 'sku-1'`);
      expect(rows[0]!.stock).toBeGreaterThan(0);
      await app.query(`DELETE FROM products WHERE id = 'sku-1'`);
    });
  });

  it("the application role's status changes write the history (migration 006's trigger runs with its rights)", async () => {
    await asRole(appUrl(), async (app) => {
      const id = '6d1c0a4e-2b7f-4f39-9a51-0c1f7e0b9a11';
      await app.query(
        `INSERT INTO orders (id, customer_id, payment_method, amount_cents, status) VALUES ($1, 'c-lp', 'pm_card_visa', 100, 'PENDING')`,
        [id],
      );
      await app.query(`UPDATE orders SET status = 'RESERVED' WHERE id = $1`, [id]);
      const { rows } = await app.query<{ status: string }>(`SELECT status FROM order_status_history WHERE order_id = $1 ORDER BY id`, [id]);
      expect(rows.map((r) => r.status)).toEqual(['PENDING', 'RESERVED']);
      // A retry's attempt withdrawn: migration 008's trigger takes back the history it wrote.
      await app.query(`UPDATE orders SET status = 'FAILED', failure_reason = 'PAYMENT_UNAVAILABLE' WHERE id = $1`, [id]);
      const pool = new pg.Pool({ connectionString: appUrl(), max: 1 });
      try {
        const [next, token] = [{ orderId: id, attempt: 2 }, randomUUID()];
        expect(await moveToNextAttempt(pool, next, token)).toBe(true);
        expect(await withdrawStart(pool, next, token)).toBe('WITHDRAWN');
      } finally {
        await pool.end();
      }
      const after = await app.query<{ status: string }>(`SELECT status FROM order_status_history WHERE order_id = $1 ORDER BY id`, [id]);
      expect(after.rows.map((r) => r.status)).toEqual(['PENDING', 'RESERVED', 'FAILED']);
      await app.query(`DELETE FROM orders WHERE id = $1`, [id]);
      const left = await app.query(`SELECT 1 FROM order_status_history WHERE order_id = $1`, [id]);
      expect(left.rowCount).toBe(0);
    });
  });

  it('the application role may use every schema the migrations created and write every table in it', async () => {
    const owned = await asRole(ownerUrl(), (owner) =>
      owner.query<{ schema: string; table: string | null }>(
        `SELECT n.nspname AS schema, c.relname AS table
         FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
         WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)`,
      ),
    );
    // public and the simulated provider's at least: a schema the migrations add is in this list too.
    expect(owned.rows.map((r) => r.schema)).toEqual(expect.arrayContaining(['public', 'simulated_provider']));
    const missing: string[] = [];
    await asRole(superuserUrl(vars.orders_db), async (su) => {
      for (const { schema, table } of owned.rows) {
        const rights = await su.query<{ usage: boolean; create: boolean; dml: boolean | null }>(
          `SELECT has_schema_privilege($1, $2, 'USAGE') AS usage, has_schema_privilege($1, $2, 'CREATE') AS create,
                  CASE WHEN $3::text IS NULL THEN NULL
                       ELSE has_table_privilege($1, format('%I.%I', $2, $3), 'SELECT, INSERT, UPDATE, DELETE') END AS dml`,
          [vars.app_role, schema, table],
        );
        const r = rights.rows[0]!;
        if (!r.usage) missing.push(`USAGE on schema ${schema}`);
        if (r.create) missing.push(`(unwanted) CREATE on schema ${schema}`);
        if (r.dml === false) missing.push(`SELECT/INSERT/UPDATE/DELETE on ${schema}.${table}`);
      }
    });
    expect(missing).toEqual([]);
  });

  it('a schema a later migration adds is the application role\'s to use as well, without a grant in that migration', async () => {
    await asRole(ownerUrl(), async (owner) => {
      await owner.query('CREATE SCHEMA later_feature');
      await owner.query('CREATE TABLE later_feature.things (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)');
    });
    try {
      await asRole(appUrl(), async (app) => {
        await app.query(`INSERT INTO later_feature.things (name) VALUES ('a')`);
        await app.query(`UPDATE later_feature.things SET name = 'b'`);
        expect((await app.query('SELECT name FROM later_feature.things')).rows).toEqual([{ name: 'b' }]);
        await app.query('DELETE FROM later_feature.things');
        await expect(app.query('CREATE TABLE later_feature.sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      });
    } finally {
      await asRole(ownerUrl(), (owner) => owner.query('DROP SCHEMA later_feature CASCADE'));
    }
  });

  it('migration 007 gives a database set up by the earlier init script (rights in public only) the same rights', async () => {
    // That script's state: defaults for public only, and nothing on migration 002's schema.
    await asRole(superuserUrl(vars.orders_db), async (su) => {
      const [owner, app] = [pg.escapeIdentifier(vars.owner_role), pg.escapeIdentifier(vars.app_role)];
      await su.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} REVOKE ALL ON SCHEMAS FROM ${app}`);
      await su.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} REVOKE ALL ON TABLES FROM ${app}`);
      await su.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} REVOKE ALL ON SEQUENCES FROM ${app}`);
      await su.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app}`);
      await su.query(`REVOKE ALL ON ALL TABLES IN SCHEMA simulated_provider FROM ${app}`);
      await su.query(`REVOKE ALL ON SCHEMA simulated_provider FROM ${app}`);
    });
    const charge = (app: pg.Client) =>
      app.query(`INSERT INTO simulated_provider.charges (idempotency_key, status) VALUES ('lp-007', 'CANCELED')`);
    await asRole(appUrl(), (app) => expect(charge(app)).rejects.toMatchObject({ code: '42501' }));

    const sql = readFileSync(path.join(PROJECT_ROOT, 'lib', 'db', 'migrations', '007_grants_in_every_schema.sql'), 'utf8');
    await asRole(ownerUrl(), async (owner) => {
      await owner.query(sql);
      await owner.query('CREATE SCHEMA later_feature');
      await owner.query('CREATE TABLE later_feature.things (name text)');
    });
    try {
      await asRole(appUrl(), async (app) => {
        await charge(app);
        await app.query(`DELETE FROM simulated_provider.charges WHERE idempotency_key = 'lp-007'`);
        await app.query(`INSERT INTO later_feature.things VALUES ('a')`);
        await expect(app.query('CREATE TABLE later_feature.sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      });
    } finally {
      await asRole(ownerUrl(), (owner) => owner.query('DROP SCHEMA later_feature CASCADE'));
    }
  });

  it("the application role charges and refunds at the simulated provider (migration 002's schema)", async () => {
    const pool = createPool(appUrl(), 2);
    try {
      const noService = { latencyMs: 0, failureRate: 0 };
      const acts = createActivities(pool, { inventory: noService, payment: noService, notify: noService });
      const env = new MockActivityEnvironment();
      const product = await freshProduct(pool, { priceCents: 700, stock: 3 });
      const ref = { orderId: '0b7c6d1e-4f1a-4c55-8e0f-2a9d3c4b5e61', attempt: 1 };
      const input = {
        ...ref,
        customerId: 'c-lp',
        items: [{ productId: product.id, quantity: 2, priceCents: 700 }],
        amountCents: 1400,
        paymentMethod: 'pm_card_visa',
        idempotencyKey: null,
        requestHash: null,
        paymentBudgetMs: 60_000,
      };
      await env.run(acts.recordOrder, input);
      await env.run(acts.reserveInventory, ref);
      await env.run(acts.chargePayment, ref);
      await env.run(acts.refundPayment, ref);
      const charge = await pool.query(
        'SELECT status, amount_cents, refunded_cents FROM simulated_provider.charges WHERE idempotency_key = $1',
        [paymentIdempotencyKey(ref)],
      );
      expect(charge.rows).toEqual([{ status: 'REFUNDED', amount_cents: 1400, refunded_cents: 1400 }]);
      const ledger = await pool.query('SELECT charged_cents, refunded_cents FROM payments WHERE order_id = $1', [ref.orderId]);
      expect(ledger.rows).toEqual([{ charged_cents: 1400, refunded_cents: 1400 }]);
    } finally {
      await pool.end();
    }
  });

  it('an API and a worker connected as the application role complete an order and carry out a cancel', async () => {
    // A charge that takes long enough to cancel during it: the cancel's compensation then refunds at the provider.
    stack = await startStack('least-privilege', { DATABASE_URL: appUrl(), PAYMENT_LATENCY_MS: '1500' });
    const pool = createPool(appUrl(), 2);
    try {
      const product = await freshProduct(pool, { priceCents: 900, stock: 5 });
      const order = { customerId: 'c-lp', items: [{ productId: product.id, quantity: 1 }] };
      const placed = await call(stack.baseUrl, 'POST', '/api/orders', order);
      expect(placed.status, JSON.stringify(placed.body)).toBe(202);
      expect(await untilTerminal(stack.baseUrl, placed.body.orderId, 30_000)).toMatchObject({
        status: 'COMPLETED',
        payment: { chargedCents: 900, refundedCents: 0 },
      });

      const second = await call(stack.baseUrl, 'POST', '/api/orders', order);
      expect(second.status, JSON.stringify(second.body)).toBe(202);
      await untilStatus(stack.baseUrl, second.body.orderId, 'RESERVED');
      expect((await call(stack.baseUrl, 'POST', `/api/orders/${second.body.orderId}/cancel`)).status).toBe(202);
      const cancelled = await untilTerminal(stack.baseUrl, second.body.orderId, 30_000);
      expect(cancelled).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(cancelled.payment.chargedCents - cancelled.payment.refundedCents).toBe(0);
      // The compensation reached the provider: the key is cancelled (or the charge that landed refunded).
      const provider = await pool.query<{ status: string }>('SELECT status FROM simulated_provider.charges WHERE idempotency_key = $1', [
        paymentIdempotencyKey({ orderId: second.body.orderId, attempt: 1 }),
      ]);
      expect(['CANCELED', 'REFUNDED']).toContain(provider.rows[0]?.status);
      const { rows } = await pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [product.id]);
      expect(rows[0]!.stock).toBe(4);
    } finally {
      await pool.end();
    }
  });

  it('the application role can change no schema', async () => {
    await asRole(appUrl(), async (app) => {
      await expect(app.query('CREATE TABLE sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('ALTER TABLE orders ADD COLUMN sneaky int')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('DROP TABLE products')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('CREATE TABLE simulated_provider.sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('DROP TABLE simulated_provider.charges')).rejects.toMatchObject({ code: '42501' });
    });
  });

  it('the Temporal role may create its own databases', async () => {
    const role = await asRole(superuserUrl('postgres'), (c) =>
      c.query<{ rolcreatedb: boolean }>('SELECT rolcreatedb FROM pg_roles WHERE rolname = $1', [vars.temporal_role]),
    );
    expect(role.rows[0]!.rolcreatedb).toBe(true);
  });
});
