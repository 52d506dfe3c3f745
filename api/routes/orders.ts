import { Router } from 'express';
import { getOrder, listOrders, type OrderView } from '../../store/orders';
import type { Pool } from '../../lib/db/pool';
import { callerOf, mayAccess } from '../auth';
import type { LoadShedder } from '../load-shedding';
import type { Metrics } from '../metrics';
import { orderNotFound, type OrderService } from '../orders/order-service';
import { createOrderBody, idempotencyKeyHeader, listOrdersQuery, orderIdParam, parseOr400 } from '../schemas';
import { workflowIdFor } from '../../workflows/types';

export interface OrderRouteDeps {
  pool: Pool;
  orders: OrderService;
  metrics: Metrics;
  /** Bounds the handlers that start workflows (place, retry); reads and cancels are cheap and unbounded. */
  shedder: LoadShedder;
  temporalUiUrl: string;
  namespace: string;
}

/**
 * Every route here runs behind requireCaller (api/app.ts): a caller reaches only
 * its own orders, an admin (or anyone, while the API is open) every order.
 */
export function orderRoutes(deps: OrderRouteDeps): Router {
  const router = Router();
  const { pool, orders } = deps;

  const links = (orderId: string) => ({
    self: `/api/orders/${orderId}`,
    cancel: `/api/orders/${orderId}/cancel`,
    retry: `/api/orders/${orderId}/retry`,
    temporalUi: `${deps.temporalUiUrl}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${workflowIdFor(orderId)}`,
  });
  const present = (order: OrderView) => {
    const { paymentMethod: _pm, attempt: _a, owner: _o, ...rest } = order;
    return { ...rest, links: links(order.orderId) };
  };
  /**
   * Unknown and malformed ids are both simply "no such order". A UUID names the
   * same order in any case (.NET and Swift send GUIDs in upper case); from here
   * on the id is lower case, as in the database, the workflow id and answers.
   */
  const orderIdOr404 = (raw: string): string => {
    if (!orderIdParam.safeParse(raw).success) throw orderNotFound(raw);
    return raw.toLowerCase();
  };

  router.post('/', deps.shedder.guard('place', async (req, res) => {
    const rawKey = req.get('idempotency-key');
    const key = rawKey === undefined ? undefined : parseOr400(idempotencyKeyHeader, rawKey, 'Idempotency-Key header');
    const body = parseOr400(createOrderBody, req.body, 'order');
    const placed = await orders.place(body, key, callerOf(res));
    deps.metrics.ordersAccepted.inc({ replayed: String(placed.replayed) });
    if (placed.replayed) res.set('Idempotent-Replayed', 'true');
    res
      .status(202)
      .location(`/api/orders/${placed.orderId}`)
      .json({ orderId: placed.orderId, status: placed.status, links: links(placed.orderId) });
  }));

  router.get('/', async (req, res) => {
    const filter = parseOr400(listOrdersQuery, req.query, 'query');
    const caller = callerOf(res);
    const found = await listOrders(pool, {
      ...filter,
      startConfirmed: filter.startConfirmed === undefined ? undefined : filter.startConfirmed === 'true',
      owner: caller.admin ? undefined : caller.name ?? undefined,
    });
    res.json({ orders: found.map(present) });
  });

  router.get('/:id', async (req, res) => {
    const orderId = orderIdOr404(String(req.params.id));
    const order = await getOrder(pool, orderId);
    // Another caller's order is "not found" too: a 403 would confirm that the id exists.
    if (!order || !mayAccess(callerOf(res), order.owner)) throw orderNotFound(orderId);
    res.json(present(order));
  });

  router.post('/:id/cancel', async (req, res) => {
    res.status(202).json(await orders.cancel(orderIdOr404(String(req.params.id)), callerOf(res)));
  });

  router.post('/:id/retry', deps.shedder.guard('retry', async (req, res) => {
    const retried = await orders.retry(orderIdOr404(String(req.params.id)), callerOf(res));
    res.status(202).location(`/api/orders/${retried.orderId}`).json({ ...retried, links: links(retried.orderId) });
  }));

  return router;
}
