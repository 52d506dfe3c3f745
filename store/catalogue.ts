import { inTransaction, type Pool, type Queryable } from '../lib/db/pool';

export interface Product {
  id: string;
  name: string;
  priceCents: number;
  /**
   * Read: what new orders can still reserve (on hand minus reserved). Written
   * through upsertProduct and the seed: the quantity on the shelf.
   */
  stock: number;
}

// `stock` is generated as on_hand - reserved, so every read answers what is still sellable.
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

/** A stock count below what open reservations already hold: those goods are promised. */
export class StockBelowReservedError extends Error {
  constructor(
    readonly productId: string,
    readonly reserved: number,
  ) {
    super(`Product ${productId} has ${reserved} reserved; on-hand stock cannot go below that.`);
  }
}

/**
 * Creates or replaces a product; `product.stock` sets the quantity on hand, and
 * what open reservations hold is left as it is. Throws StockBelowReservedError,
 * changing nothing, when the new on-hand is below the reserved quantity. Returns
 * whether the product was created, and the product as now stored (`stock` then
 * being what is available).
 */
export async function upsertProduct(pool: Pool, product: Product): Promise<{ created: boolean; product: Product }> {
  return inTransaction(pool, async (tx) => {
    // The guard is checked under the row lock the upsert takes, so a reservation
    // committing in between cannot slip under the new on-hand.
    const res = await tx.query<Product & { inserted: boolean }>(
      `INSERT INTO products (id, name, price_cents, on_hand) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE
         SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, on_hand = EXCLUDED.on_hand, updated_at = now()
         WHERE products.reserved <= EXCLUDED.on_hand
       RETURNING ${columns}, (xmax = 0) AS inserted`,
      [product.id, product.name, product.priceCents, product.stock],
    );
    const row = res.rows[0];
    if (row) {
      const { inserted, ...stored } = row;
      return { created: inserted === true, product: stored };
    }
    // The refused upsert still holds the row lock, so this is the quantity it was refused on.
    const held = await tx.query<{ reserved: number }>(`SELECT reserved FROM products WHERE id = $1`, [product.id]);
    throw new StockBelowReservedError(product.id, held.rows[0]!.reserved);
  });
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
    `INSERT INTO products (id, name, price_cents, on_hand)
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
