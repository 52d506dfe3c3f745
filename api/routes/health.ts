import { Router } from 'express';
import type { Pool } from '../../lib/db/pool';
import type { Metrics } from '../metrics';
import type { OrderWorkflows } from '../orders/workflow-gateway';

export function healthRoutes(pool: Pool, workflows: OrderWorkflows, metrics: Metrics): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  /** Ready when both stores answer; a load balancer stops sending orders otherwise. */
  router.get('/readyz', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'ok';
      } catch (err) {
        return `unavailable: ${(err as Error).message}`;
      }
    };
    const [postgres, temporal] = await Promise.all([check(() => pool.query('SELECT 1')), check(() => workflows.ping())]);
    const ready = postgres === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { postgres, temporal } });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return router;
}
