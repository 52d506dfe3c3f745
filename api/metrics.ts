import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance, so tests can build several apps in one process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const ordersAccepted = new Counter({
    name: 'orders_accepted_total',
    help: 'Orders accepted (202), by whether an Idempotency-Key replayed an earlier one',
    labelNames: ['replayed'] as const,
    registers: [registry],
  });
  const ordersShed = new Counter({
    name: 'orders_shed_total',
    help: 'Order writes answered 503 OVERLOADED at once because MAX_ORDERS_IN_FLIGHT were already running, by route',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  const ordersInFlight = new Gauge({
    name: 'orders_in_flight',
    help: 'Order write handlers (place, retry) running now; at MAX_ORDERS_IN_FLIGHT further ones are shed',
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'http_rate_limited_total',
    help: 'Requests answered 429 RATE_LIMITED because their caller exceeded RATE_LIMIT_PER_MINUTE',
    registers: [registry],
  });

  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      // The matched route pattern keeps label cardinality bounded (no order ids).
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };

  return { registry, middleware, ordersAccepted, ordersShed, ordersInFlight, rateLimited };
}

export type Metrics = ReturnType<typeof createMetrics>;
