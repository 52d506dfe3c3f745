import type { Queryable } from '../../lib/db/pool';

export interface Product {
  id: string;
  name: string;
  priceCents: number;
  stock: number;
}

const columns = `id, name, price_cents AS "priceCents", stock`;

export async function listProducts(db: Queryable): Promise<Product[]> {
  return (await db.query<Product>(`SELECT ${columns} FROM products ORDER BY id`)).rows;
}

export async function getProduct(db: Queryable, id: string): Promise<Product | null> {
  return (await db.query<Product>(`SELECT ${columns} FROM products WHERE id = $1`, [id])).rows[0] ?? null;
}

export async function getProducts(db: Queryable, ids: readonly string[]): Promise<Map<string, Product>> {
  const rows = (await db.query<Product>(`SELECT ${columns} FROM products WHERE id = ANY($1::text[])`, [ids])).rows;
  return new Map(rows.map((p) => [p.id, p]));
}

/** Creates or replaces a product, setting its stock outright. Returns whether it was created. */
export async function upsertProduct(db: Queryable, product: Product): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO products (id, name, price_cents, stock) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE
       SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, stock = EXCLUDED.stock, updated_at = now()
     RETURNING (xmax = 0) AS inserted`,
    [product.id, product.name, product.priceCents, product.stock],
  );
  return res.rows[0].inserted === true;
}

/** A small catalogue so that a fresh `npm start` can take an order straight away. */
export const SEED_PRODUCTS: readonly Product[] = [
  { id: 'sku-1', name: 'Espresso beans, 1 kg', priceCents: 2490, stock: 1000 },
  { id: 'sku-2', name: 'Burr grinder', priceCents: 12900, stock: 200 },
  { id: 'sku-3', name: 'Milk jug', priceCents: 1590, stock: 500 },
];

/** Inserts the seed catalogue only into an empty products table. Returns how many it added. */
export async function seedCatalogueIfEmpty(db: Queryable): Promise<number> {
  const res = await db.query(
    `INSERT INTO products (id, name, price_cents, stock)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[])
     WHERE NOT EXISTS (SELECT 1 FROM products)`,
    [
      SEED_PRODUCTS.map((p) => p.id),
      SEED_PRODUCTS.map((p) => p.name),
      SEED_PRODUCTS.map((p) => p.priceCents),
      SEED_PRODUCTS.map((p) => p.stock),
    ],
  );
  return res.rowCount ?? 0;
}
