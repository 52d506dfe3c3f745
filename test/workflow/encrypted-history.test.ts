import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ensureSearchAttributes } from '../../lib/temporal/connection';
import { orderDataConverter } from '../../lib/temporal/data-converter';
import { parseKeyRing } from '../../lib/temporal/key-ring';
import { ENCRYPTED_ENCODING } from '../../lib/temporal/payload-codec';
import type { OrderInput, OrderState } from '../../workflows/types';
import { fakeActivities } from '../support/fake-activities';
import { HISTORIES_ROOT, currentBuildId } from '../support/fixtures';

/**
 * The saga with payload encryption on, in the time-skipping server: what the
 * server stores is ciphertext, and the history it returns replays with the same
 * data converter (and only with it).
 */

const { testServerPath, workflowBundlePath } = inject('testEnv');
const dataConverter = orderDataConverter(parseKeyRing(`k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`));
const secrets = { customerId: `c-${randomUUID()}`, paymentMethod: `pm_card_${randomUUID().slice(0, 8)}`, productId: `sku-${randomUUID().slice(0, 8)}` };
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath } },
    client: { dataConverter },
  });
  await ensureSearchAttributes(env.client, 'default');
});

afterAll(async () => {
  await env?.teardown();
});

type Payload = temporal.api.common.v1.IPayload;
/** Every payload of the history, with the field path it sits under. */
function payloadsIn(value: unknown, path: string[] = [], found: { path: string[]; payload: Payload }[] = []) {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  if ('data' in value && 'metadata' in value) found.push({ path, payload: value as Payload });
  else for (const [key, child] of Object.entries(value)) payloadsIn(child, [...path, key], found);
  return found;
}
const underSearchAttributes = (path: string[]) => path.includes('searchAttributes');
// A marker's bookkeeping (a patch id; a local activity's type, attempt and times) is
// written by the SDK's core outside the codec; a local activity's result is ours.
const markerBookkeeping = (path: string[]) => path.includes('markerRecordedEventAttributes') && !path.includes('result');
const bytesOf = (p: Payload) => Buffer.concat([Buffer.from(p.data ?? []), ...Object.values(p.metadata ?? {}).map((v) => Buffer.from(v ?? []))]);

it('stores only ciphertext for order data, and the history replays with the codec', async () => {
  const taskQueue = `encrypted-${randomUUID()}`;
  const input: OrderInput = {
    orderId: randomUUID(),
    customerId: secrets.customerId,
    items: [{ productId: secrets.productId, quantity: 2, priceCents: 500 }],
    amountCents: 1000,
    paymentMethod: secrets.paymentMethod,
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 120_000,
  };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath },
    activities: fakeActivities().activities,
    dataConverter,
  });
  const handle = await env.client.workflow.start('orderSaga', { taskQueue, workflowId: `order-${input.orderId}`, args: [input] });
  const result = await worker.runUntil(() => handle.result() as Promise<OrderState>);
  expect(result.status).toBe('COMPLETED');

  const history = await handle.fetchHistory();
  const payloads = payloadsIn(history);
  const orderData = payloads.filter((p) => !underSearchAttributes(p.path) && !markerBookkeeping(p.path));
  expect(orderData.length).toBeGreaterThan(5); // input, activity inputs and results, local activity results, the result
  for (const { path, payload } of orderData) {
    expect(Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString(), path.join('.')).toBe(ENCRYPTED_ENCODING);
  }
  const stored = Buffer.concat(orderData.map((p) => bytesOf(p.payload)));
  for (const secret of Object.values(secrets)) expect(stored.includes(secret), secret).toBe(false);
  // Search attributes are indexed by the server, so they are plain by design (the
  // API sets CustomerId at start: docs/payload-encryption.md); the saga's own hold no order data.
  const indexed = Buffer.concat(payloads.filter((p) => underSearchAttributes(p.path)).map((p) => bytesOf(p.payload)));
  for (const secret of Object.values(secrets)) expect(indexed.includes(secret), secret).toBe(false);

  const replay = { workflowBundle: { codePath: workflowBundlePath } };
  await expect(Worker.runReplayHistory({ ...replay, dataConverter }, history, handle.workflowId)).resolves.toBeUndefined();
  // Without the keys the same history cannot even be read.
  await expect(Worker.runReplayHistory(replay, history, handle.workflowId)).rejects.toThrow();
});

it('replays the recorded plain histories with the codec on: a key can be set while orders run', async () => {
  const dir = path.join(HISTORIES_ROOT, currentBuildId());
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: { codePath: workflowBundlePath }, dataConverter }, history, `replay-${file}`);
  }
});
