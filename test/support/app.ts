import type { Express } from 'express';
import { createApp, type AppDeps } from '../../api/app';
import type { OrderWorkflows } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';

/**
 * The Express app as api/main.ts builds it, on the suite's database and a fake
 * Temporal gateway, with a silent logger; `overrides` set what a test is about
 * (API keys, limits, CORS).
 */
export function testApp(pool: Pool, workflows: OrderWorkflows, overrides: Partial<AppDeps> = {}): Express {
  return createApp({
    pool,
    workflows,
    logger: createLogger('test', 'silent'),
    apiKeys: [],
    temporalUiUrl: 'http://127.0.0.1:8233',
    namespace: 'default',
    paymentBudgetMs: 60_000,
    ...overrides,
  });
}
