import express, { type Express } from 'express';
import type { Pool } from '../lib/db/pool';
import type { Logger } from '../lib/logger';
import { requireApiKey } from './auth';
import { errorHandler, notFoundRoute } from './errors';
import { createMetrics } from './metrics';
import { OrderService } from './orders/order-service';
import type { OrderWorkflows } from './orders/workflow-gateway';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { orderRoutes } from './routes/orders';
import { productRoutes } from './routes/products';

export interface AppDeps {
  pool: Pool;
  workflows: OrderWorkflows;
  logger: Logger;
  apiKeys: readonly string[];
  temporalUiUrl: string;
  namespace: string;
  paymentBudgetMs: number;
}

/** Builds the Express app from its collaborators; api/main.ts wires the real ones. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // order state changes underneath; never answer 304 from a stale tag
  const metrics = createMetrics();
  const requireKey = requireApiKey(deps.apiKeys);
  const orders = new OrderService(deps.pool, deps.workflows, { paymentBudgetMs: deps.paymentBudgetMs });

  app.use(metrics.middleware);
  app.use(express.json({ limit: '64kb' }));
  app.use(healthRoutes(deps.pool, deps.workflows, metrics));
  app.use(docsRoutes());
  app.use('/api/products', productRoutes(deps.pool, requireKey));
  app.use(
    '/api/orders',
    orderRoutes({
      pool: deps.pool,
      orders,
      metrics,
      requireKey,
      temporalUiUrl: deps.temporalUiUrl.replace(/\/$/, ''),
      namespace: deps.namespace,
    }),
  );
  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}
