import { Router } from 'express';
import { getProduct, listProducts, StockBelowReservedError, upsertProduct } from '../../store/catalogue';
import { DatabaseNotReachedError, isDatabaseUnavailable, type Pool } from '../../lib/db/pool';
import { HttpError, databaseUnavailable } from '../errors';
import { parseOr400, productBody, productIdParam } from '../schemas';

/** Reads are public; api/app.ts lets only admin callers (or anyone, while the API is open) reach the PUT. */
export function productRoutes(pool: Pool): Router {
  const router = Router();

  router.get('/', async (_req, res) => {
    res.json({ products: await listProducts(pool) });
  });

  router.get('/:id', async (req, res) => {
    const product = productIdParam.safeParse(req.params.id).success ? await getProduct(pool, req.params.id) : null;
    if (!product) throw new HttpError(404, 'PRODUCT_NOT_FOUND', `No product ${req.params.id}.`);
    res.json(product);
  });

  // The body's `stock` is the count on the shelf; the answer's is what is left to sell.
  router.put('/:id', async (req, res) => {
    const id = parseOr400(productIdParam, req.params.id, 'product id');
    const body = parseOr400(productBody, req.body, 'product');
    try {
      const { created, product } = await upsertProduct(pool, { id, ...body });
      res.status(created ? 201 : 200).json(product);
    } catch (err) {
      if (err instanceof DatabaseNotReachedError) throw databaseUnavailable('The database is unavailable; nothing was changed. Retry after the Retry-After delay.');
      // Its COMMIT may have been what was lost. The upsert sets what it sets, so sending it again is safe.
      if (isDatabaseUnavailable(err)) {
        throw databaseUnavailable('The database became unavailable; the product may or may not have been saved. The same PUT is safe to send again.');
      }
      if (!(err instanceof StockBelowReservedError)) throw err;
      throw new HttpError(409, 'STOCK_BELOW_RESERVED', err.message, { reserved: err.reserved });
    }
  });

  return router;
}
