import { Router } from 'express';
import type { Pool } from '../../lib/db/pool';
import type { Logger } from '../../lib/logger';
import type { Metrics } from '../metrics';
import type { OrderWorkflows } from '../orders/workflow-gateway';

export function healthRoutes(pool: Pool, workflows: OrderWorkflows, metrics: Metrics, logger: Logger): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  /**
   * Ready when both stores answer; a load balancer stops sending orders otherwise.
   * The answer says only which store is down: its error text (host names, ports,
   * user names, driver internals) goes to the log, not to whoever can reach the port.
   */
  router.get('/readyz', async (_req, res) => {
    const check = async (dependency: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'ok' as const;
      } catch (err) {
        logger.warn({ err, dependency }, 'readiness check failed');
        return 'unavailable' as const;
      }
    };
    const [postgres, temporal] = await Promise.all([
      check('postgres', () => pool.query('SELECT 1')),
      check('temporal', () => workflows.ping()),
    ]);
    const ready = postgres === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { postgres, temporal } });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return router;
}
