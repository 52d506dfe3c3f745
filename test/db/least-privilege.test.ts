import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedCatalogueIfEmpty } from '../../store/catalogue';
import { createDatabaseIfMissing, migrate } from '../../lib/db/migrate';
import { PROJECT_ROOT } from '../../lib/paths';

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

afterAll(async () => {
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
      await app.query(`DELETE FROM orders WHERE id = $1`, [id]);
      const left = await app.query(`SELECT 1 FROM order_status_history WHERE order_id = $1`, [id]);
      expect(left.rowCount).toBe(0);
    });
  });

  it('the application role can change no schema', async () => {
    await asRole(appUrl(), async (app) => {
      await expect(app.query('CREATE TABLE sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('ALTER TABLE orders ADD COLUMN sneaky int')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('DROP TABLE products')).rejects.toMatchObject({ code: '42501' });
    });
  });

  it('the Temporal role may create its own databases', async () => {
    const role = await asRole(superuserUrl('postgres'), (c) =>
      c.query<{ rolcreatedb: boolean }>('SELECT rolcreatedb FROM pg_roles WHERE rolname = $1', [vars.temporal_role]),
    );
    expect(role.rows[0]!.rolcreatedb).toBe(true);
  });
});
