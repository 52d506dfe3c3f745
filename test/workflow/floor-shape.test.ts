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
import { temporalOrderWorkflows } from '../../api/orders/workflow-gateway';
import { workflowIdFor, type OrderInput, type OrderState } from '../../workflows/types';
import { HISTORIES_ROOT, currentBuildId } from '../support/fixtures';

/**
 * The benchmark's floor (bench/designs/temporal-floor/) claims to run the saga's
 * exact shape around activities that do nothing. This holds it to that: a floor
 * run must write the same history, event for event, activity for activity
 * (local ones included) and search attribute for search attribute, as the
 * recorded history of a real completed order of this build. Only the completed
 * path: it is the one the floor's figures are read against.
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

/** The local activity a marker records (the SDK's marker data names its type). */
function localActivityOf(e: temporal.api.history.v1.IHistoryEvent): string | undefined {
  const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type : undefined;
}

/** Event types, with the activity, marker and local activity each one names, and the search attributes set: what "the same shape" compares. */
function shape(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? []).map((e) => {
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    const marker = e.markerRecordedEventAttributes?.markerName;
    const started = e.workflowExecutionStartedEventAttributes;
    const searchAttributes = Object.keys(
      (started ?? e.upsertWorkflowSearchAttributesEventAttributes)?.searchAttributes?.indexedFields ?? {},
    ).sort();
    const memo = Object.keys(started?.memo?.fields ?? {}).sort();
    return [String(e.eventType), activity, marker, localActivityOf(e), ...searchAttributes, ...memo].filter(Boolean).join(' ');
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
      requestHash: 'a'.repeat(64),
      paymentBudgetMs: 120_000,
      startToken: randomUUID(),
    };
    const { result, history } = await worker.runUntil(async () => {
      // Started as the floor's API starts it: through the service's own gateway (memo, search attributes, summary).
      await temporalOrderWorkflows(env.client, taskQueue).start(input);
      const handle = env.client.workflow.getHandle(workflowIdFor(orderId));
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
