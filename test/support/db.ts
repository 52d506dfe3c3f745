import { inject } from 'vitest';
import { createPool, type Pool } from '../../lib/db/pool';
import { upsertProduct, type Product } from '../../store/catalogue';
import { randomUUID } from 'node:crypto';

/** A pool on the suite's database (recreated by the global setup for every run). */
export function testPool(): Pool {
  return createPool(inject('testEnv').databaseUrl, 5);
}

/** A product with a fresh id, so tests never share stock. */
export async function freshProduct(pool: Pool, overrides: Partial<Product> = {}): Promise<Product> {
  const product: Product = {
    id: `sku-${randomUUID().slice(0, 8)}`,
    name: 'Test product',
    priceCents: 1250,
    stock: 10,
    ...overrides,
  };
  await upsertProduct(pool, product);
  return product;
}

export async function stockOf(pool: Pool, productId: string): Promise<number> {
  const res = await pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
  return res.rows[0]!.stock;
}

/** Orders in the table, or one customer's: a test that shares the database with others' background work counts its own. */
export async function countOrders(pool: Pool, customerId?: string): Promise<number> {
  const { rows } = customerId === undefined
    ? await pool.query<{ n: number }>('SELECT count(*) AS n FROM orders')
    : await pool.query<{ n: number }>('SELECT count(*) AS n FROM orders WHERE customer_id = $1', [customerId]);
  return rows[0]!.n;
}
