import express, { type Express } from 'express';
import helmet from 'helmet';
import { parseApiKeys } from '../lib/api-keys';
import { loadConfig, type TrustProxy } from '../lib/config';
import type { Pool } from '../lib/db/pool';
import type { Logger } from '../lib/logger';
import { authenticate, requireAdmin, requireCaller } from './auth';
import { corsFor } from './cors';
import { operationsAt } from './contract';
import { apiErrorHandler, methodNotAllowed, notFoundRoute } from './errors';
import { loopbackHostsOnly } from './host-check';
import { createLoadShedder } from './load-shedding';
import { createMetrics } from './metrics';
import { OrderService } from './orders/order-service';
import type { OrderWorkflows } from './orders/workflow-gateway';
import { consoleRoutes } from './routes/console';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { orderRoutes } from './routes/orders';
import { productRoutes } from './routes/products';
import { rateLimitPerCaller } from './rate-limit';

/** The configuration table's defaults (lib/config.ts), for callers that pass no limits of their own. */
const DEFAULTS = loadConfig({});
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AppDeps {
  pool: Pool;
  workflows: OrderWorkflows;
  logger: Logger;
  /** API_KEYS entries as written (lib/api-keys.ts); none: the API is open. */
  apiKeys: readonly string[];
  temporalUiUrl: string;
  namespace: string;
  paymentBudgetMs: number;
  /** MAX_ORDERS_IN_FLIGHT; default as in lib/config.ts. */
  maxOrdersInFlight?: number;
  /** RATE_LIMIT_PER_MINUTE, 0 for none; default as in lib/config.ts. */
  rateLimitPerMinute?: number;
  /** CORS_ORIGINS; default none. */
  corsOrigins?: readonly string[];
  /** TRUST_PROXY; default off. */
  trustProxy?: TrustProxy;
  /**
   * Serve only requests whose Host is a loopback name (api/host-check.ts): the open
   * demo's. Default: when there are no API keys; api/main.ts turns it off for
   * ALLOW_OPEN_API=1, where a gateway in front reaches the API by its own names.
   */
  loopbackHostsOnly?: boolean;
}

/** Builds the Express app from its collaborators; api/main.ts wires the real ones. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // order state changes underneath; never answer 304 from a stale tag
  // Off unless TRUST_PROXY names the proxies in front: only then is X-Forwarded-For the client's address (req.ip).
  app.set('trust proxy', deps.trustProxy ?? DEFAULTS.TRUST_PROXY);
  const apiKeys = parseApiKeys(deps.apiKeys);
  const metrics = createMetrics();
  const orders = new OrderService(deps.pool, deps.workflows, { paymentBudgetMs: deps.paymentBudgetMs });
  const shedder = createLoadShedder(deps.maxOrdersInFlight ?? DEFAULTS.MAX_ORDERS_IN_FLIGHT, metrics);

  app.use(metrics.middleware);
  if (deps.loopbackHostsOnly ?? apiKeys.length === 0) app.use(loopbackHostsOnly);
  app.use(
    helmet({
      // The API is often reached over plain HTTP (locally, or behind a TLS-terminating proxy):
      // upgrading the docs page's asset requests to https would break it there.
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    }),
  );
  app.use(corsFor(deps.corsOrigins ?? DEFAULTS.CORS_ORIGINS));
  // Who is calling, then whether it is over its budget, then whether it may use the route: all
  // before the body is parsed, so a caller over its limit or without a key costs no parsing.
  // Probes (/healthz, /readyz, /metrics) and the docs stay open and unlimited.
  app.use('/api', authenticate(apiKeys));
  app.use('/api', rateLimitPerCaller({ perMinute: deps.rateLimitPerMinute ?? DEFAULTS.RATE_LIMIT_PER_MINUTE, metrics }));
  // Before the key checks: a wrong method is wrong whoever asks, and the methods are public in /openapi.json.
  app.use(methodNotAllowed);
  // Orders, reads included, belong to their caller; the catalogue is public to read, an admin's to write.
  app.use('/api/orders', requireCaller);
  app.use('/api/caller', requireCaller);
  app.use('/api/products', (req, res, next) => (SAFE_METHODS.has(req.method) ? next() : requireAdmin(req, res, next)));
  // The largest valid order (50 lines) is a few kB; anything far past that is answered 413 unread.
  // Only operations that read a body parse one (api/contract.ts): elsewhere a body has no meaning,
  // and parsing it would let a GET or a cancel answer body errors its contract does not have.
  const jsonBody = express.json({ limit: '64kb' });
  app.use((req, res, next) => {
    const method = req.method.toLowerCase();
    if (operationsAt(req.path).some((op) => op.body && op.method === method)) return jsonBody(req, res, next);
    next();
  });
  app.use(healthRoutes(deps.pool, deps.workflows, metrics, deps.logger));
  app.use(docsRoutes({ keyed: apiKeys.length > 0 }));
  app.use(consoleRoutes());
  app.use('/api/products', productRoutes(deps.pool));
  app.use(
    '/api/orders',
    orderRoutes({
      pool: deps.pool,
      orders,
      metrics,
      shedder,
      temporalUiUrl: deps.temporalUiUrl.replace(/\/$/, ''),
      namespace: deps.namespace,
    }),
  );
  app.use(notFoundRoute);
  app.use(apiErrorHandler(deps.logger));
  return app;
}
