import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { freePort } from '../../dev/free-port';
import { freshProduct, testPool } from '../support/db';
import { call, untilTerminal } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * The worker's Prometheus endpoint (WORKER_METRICS_PORT): one GET /metrics with
 * the SDK's temporal_* series and the saga's own, scraped from a real worker
 * process after real orders.
 */
let pool: Pool;
let stack: Stack;
let metricsUrl: string;

beforeAll(async () => {
  pool = testPool();
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  stack = await startStack('metrics', { WORKER_METRICS_PORT: String(port) });
});

afterAll(async () => {
  await stack?.stop();
  await pool?.end();
});

async function scrape(): Promise<string> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series, by name and a subset of its labels; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('worker metrics endpoint', () => {
  it("serves the SDK's series and the saga's own on one endpoint", async () => {
    const product = await freshProduct(pool, { stock: 10 });
    const order = async (body: object) => {
      const res = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-metrics', items: [{ productId: product.id, quantity: 1 }], ...body });
      expect(res.status).toBe(202);
      return untilTerminal(stack.baseUrl, res.body.orderId);
    };
    expect((await order({})).status).toBe('COMPLETED');
    const declined = await order({ paymentMethod: 'pm_card_chargeDeclined' });
    expect([declined.status, declined.failureReason]).toEqual(['FAILED', 'PAYMENT_DECLINED']);

    // The runtime labels its own series task_queue and ours (from the workflow's meter) taskQueue.
    const queue = { task_queue: stack.taskQueue };
    const ours = { taskQueue: stack.taskQueue };
    const text = await waitFor('both orders on /metrics', async () => {
      const body = await scrape();
      const failed = sample(body, 'order_saga_finished_total', { ...ours, status: 'FAILED', failure_reason: 'PAYMENT_DECLINED' });
      // The saga counts its end in its last workflow task; the SDK counts the completion once the server took that task.
      return failed === 1 && sample(body, 'temporal_workflow_completed', queue) === 2 ? body : undefined;
    });
    // Ours: one order of each outcome, their run times, the declined one's compensations
    // (the saga undoes the charge step whatever its outcome; the refund finds nothing to refund).
    expect(sample(text, 'order_saga_finished_total', { ...ours, status: 'COMPLETED', failure_reason: 'none' })).toBe(1);
    expect(sample(text, 'order_saga_duration_ms_count', { ...ours, status: 'COMPLETED' })).toBe(1);
    expect(sample(text, 'order_saga_duration_ms_sum', { ...ours, status: 'FAILED' })).toBeGreaterThan(0);
    expect(sample(text, 'order_saga_duration_ms_bucket', { ...ours, status: 'COMPLETED', le: '900000' })).toBe(1);
    expect(sample(text, 'order_saga_compensations_total', { ...ours, step: 'releaseInventory' })).toBe(1);
    expect(sample(text, 'order_saga_compensations_total', { ...ours, step: 'refundPayment' })).toBe(1);
    // The SDK's: task latencies, schedule-to-start, sticky cache, completions.
    expect(sample(text, 'temporal_workflow_task_schedule_to_start_latency_count', queue)).toBeGreaterThan(0);
    expect(sample(text, 'temporal_activity_execution_latency_count', queue)).toBeGreaterThan(0);
    expect(sample(text, 'temporal_sticky_cache_size')).toBeDefined();
    expect(sample(text, 'temporal_workflow_completed', queue)).toBe(2);
  });
});
