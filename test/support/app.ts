import type { Express } from 'express';
import { createApp, type AppDeps } from '../../api/app';
import type { OrderWorkflows, StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';
import type { OrderInput } from '../../workflows/types';

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

/**
 * A Temporal gateway that accepts every start and cancel and records them, for
 * tests whose point is what reached Temporal (and what did not).
 */
export function recordingWorkflows(): { workflows: OrderWorkflows; started: OrderInput[]; cancelled: string[] } {
  const started: OrderInput[] = [];
  const cancelled: string[] = [];
  const workflows: OrderWorkflows = {
    start: async (input) => {
      started.push(input);
      return { kind: 'STARTED', runId: 'run-1' };
    },
    cancel: async (orderId) => {
      cancelled.push(orderId);
      return { orderId, status: 'PENDING' };
    },
    waitForClose: async () => undefined,
    ping: async () => undefined,
  };
  return { workflows, started, cancelled };
}

/**
 * A Temporal gateway whose start runs `onStart` (which may claim the row, as a
 * fast run would, or never return, as a start whose API died) and answers with
 * it; `starts` records every input. Cancels are not expected.
 */
export function scriptedWorkflows(onStart: (input: OrderInput) => Promise<StartOutcome>): OrderWorkflows & { starts: OrderInput[] } {
  const starts: OrderInput[] = [];
  return {
    starts,
    start: async (input) => {
      starts.push(input);
      return onStart(input);
    },
    cancel: async () => {
      throw new Error('not expected');
    },
    waitForClose: async () => undefined,
    ping: async () => undefined,
  };
}
