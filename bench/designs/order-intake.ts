import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { priceLines } from '../../api/orders/pricing';
import { createOrderBody, parseOr400 } from '../../api/schemas';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';

/**
 * What every baseline does first, exactly as this service does: validate the
 * body with the same schema and price it from the same catalogue.
 */
export async function orderFromRequest(pool: Pool, req: Request): Promise<OrderInput> {
  const body = parseOr400(createOrderBody, req.body, 'order');
  const { items, amountCents } = await priceLines(pool, body.items);
  return {
    orderId: randomUUID(),
    customerId: body.customerId,
    items,
    amountCents,
    paymentMethod: body.paymentMethod,
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 0,
  };
}
