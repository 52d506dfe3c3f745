import { getProducts } from '../../store/catalogue';
import type { Queryable } from '../../lib/db/pool';
import type { OrderLine } from '../../workflows/types';
import { HttpError } from '../errors';

/**
 * Prices the requested lines from the catalogue; the client never sends prices.
 * Throws 422 UNKNOWN_PRODUCT naming every product that does not exist.
 */
export async function priceLines(
  db: Queryable,
  requested: ReadonlyArray<{ productId: string; quantity: number }>,
): Promise<{ items: OrderLine[]; amountCents: number }> {
  const products = await getProducts(db, requested.map((i) => i.productId));
  const unknown = requested.filter((i) => !products.has(i.productId)).map((i) => i.productId);
  if (unknown.length) {
    throw new HttpError(422, 'UNKNOWN_PRODUCT', `Unknown product: ${unknown.join(', ')}`, { productIds: unknown });
  }
  const items = requested.map((i) => ({ ...i, priceCents: products.get(i.productId)!.priceCents }));
  return { items, amountCents: items.reduce((sum, i) => sum + i.priceCents * i.quantity, 0) };
}
