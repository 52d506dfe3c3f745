import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { floorActivities } from '../../bench/designs/temporal-floor/activities';
import { finalsFromFile } from '../../bench/final-file';
import type { OrderInput, OrderState } from '../../workflows/types';
import { HISTORIES_ROOT, currentBuildId } from '../support/fixtures';

/**
 * The benchmark's floor (bench/designs/temporal-floor/) claims to run the saga's
 * exact shape around activities that do nothing. This holds it to that: a floor
 * run must write the same history, event for event and activity for activity,
 * as the recorded history of a real completed order of this build.
 */

let env: TestWorkflowEnvironment;
const { workflowBundlePath, temporalAddress } = inject('testEnv');
const dir = mkdtempSync(path.join(os.tmpdir(), 'floor-shape-'));

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress });
});
afterAll(async () => {
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

/** Event types, with the activity or marker each one names: what "the same shape" compares. */
function shape(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? []).map((e) => {
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    const marker = e.markerRecordedEventAttributes?.markerName;
    return [String(e.eventType), activity, marker].filter(Boolean).join(' ');
  });
}

describe('the benchmark floor', () => {
  it("writes a completed order's history exactly as the real saga does", async () => {
    const finalFile = path.join(dir, 'finals');
    const none = { latencyMs: 0, failureRate: 0 };
    const taskQueue = `floor-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: workflowBundlePath },
      activities: floorActivities({ inventory: none, payment: none, notify: none }, finalFile),
    });
    const orderId = randomUUID();
    const input: OrderInput = {
      orderId,
      customerId: 'c-1',
      items: [{ productId: 'sku-1', quantity: 1, priceCents: 1000 }],
      amountCents: 1000,
      paymentMethod: 'pm_card_visa',
      attempt: 1,
      idempotencyKey: null,
      requestHash: null,
      paymentBudgetMs: 120_000,
      startToken: randomUUID(),
    };
    const { result, history } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('orderSaga', { taskQueue, workflowId: `order-${orderId}`, args: [input] });
      const state = (await handle.result()) as OrderState;
      return { result: state, history: await handle.fetchHistory() };
    });

    expect(result.status).toBe('COMPLETED');
    const recorded = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_ROOT, currentBuildId(), 'completed.json'), 'utf8')));
    expect(shape(history)).toEqual(shape(recorded));
    // What the benchmark reads to see the order end, as it reads the orders table for the real design.
    expect((await finalsFromFile(finalFile)([orderId])).get(orderId)?.status).toBe('COMPLETED');
  });
});
