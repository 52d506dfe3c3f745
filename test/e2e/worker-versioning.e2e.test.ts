import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RAN_UNVERSIONED, UNVERSIONED, codeHash, openOrdersByVersion } from '../../lib/temporal/deployment';
import type { Pool } from '../../lib/db/pool';
import { workflowIdFor } from '../../workflows/types';
import { freshProduct, testPool } from '../support/db';
import { call, untilStatus, untilTerminal } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * Worker Versioning with two real worker processes of two builds on the dev
 * server: the saga is PINNED, so once build B is made current (by the CLI
 * command docs/operations.md gives) it takes every new order, while an order
 * build A started finishes on A; then A's version reports DRAINED.
 */

const run = promisify(execFile);
const { temporalAddress, temporalCliPath, workflowBundlePath } = inject('testEnv');
// A deployment of its own: making B current here must not move other tests' orders.
const deploymentName = `versioning-e2e-${randomUUID().slice(0, 8)}`;
// Two builds of one bundle: ids of our own that end with its hash, as the worker accepts
// (an id naming other code is refused). Both run the same code, which is all the test needs:
// what it checks is where the server sends each run.
const hash = codeHash(readFileSync(workflowBundlePath, 'utf8'));
const BUILD_A = `build-a-${hash}`;
const BUILD_B = `build-b-${hash}`;

let pool: Pool;
let client: Client;
let stack: Stack;

beforeAll(async () => {
  pool = testPool();
  client = new Client({ connection: await Connection.connect({ address: temporalAddress }) });
  // Build A: made current as it starts (WORKER_SET_CURRENT=1, as npm start does); its charges take 12 s.
  stack = await startStack('versions', { WORKER_DEPLOYMENT_NAME: deploymentName, WORKER_BUILD_ID: BUILD_A, PAYMENT_LATENCY_MS: '12000' });
});

afterAll(async () => {
  await stack?.stop();
  await client?.connection.close();
  await pool?.end();
});

const versioningOf = async (orderId: string) =>
  (await client.workflow.getHandle(workflowIdFor(orderId)).describe()).raw.workflowExecutionInfo?.versioningInfo;

/** The build of every worker that completed a workflow task of the order. */
async function buildsThatRan(orderId: string): Promise<Set<string>> {
  const history = await client.workflow.getHandle(workflowIdFor(orderId)).fetchHistory();
  const builds = new Set<string>();
  for (const event of history.events ?? []) {
    const done = event.workflowTaskCompletedEventAttributes;
    if (done) builds.add(done.deploymentVersion?.buildId ?? '(unversioned)');
  }
  return builds;
}

async function place(productId: string): Promise<string> {
  const res = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-versions', items: [{ productId, quantity: 1 }] });
  expect(res.status).toBe(202);
  return res.body.orderId as string;
}

describe('two builds side by side', () => {
  it('a new build made current takes new orders; an order of the old build finishes on it; the old version drains', async () => {
    const product = await freshProduct(pool, { stock: 10, priceCents: 800 });
    const onA = await place(product.id);
    await untilStatus(stack.baseUrl, onA, 'RESERVED'); // its charge (12 s on build A) is running
    expect((await versioningOf(onA))?.deploymentVersion).toMatchObject({ deploymentName, buildId: BUILD_A });
    // A pinned run is not one of those the upgrade query looks for.
    const unversioned: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'orderSaga' AND ExecutionStatus = 'Running' AND ${UNVERSIONED}` })) {
      unversioned.push(w.workflowId);
    }
    expect(unversioned).not.toContain(workflowIdFor(onA));
    // What npm start reports: the open order counted under its build.
    expect((await openOrdersByVersion(client)).byVersion.get(`${deploymentName}:${BUILD_A}`)).toBe(1);

    // Build B starts beside A and takes nothing until it is made current.
    stack.startExtraWorker({ WORKER_BUILD_ID: BUILD_B, WORKER_SET_CURRENT: '0', PAYMENT_LATENCY_MS: '0' });
    await waitFor(
      'build B made current with the CLI',
      async () => {
        const cli = run(temporalCliPath, [
          'worker', 'deployment', 'set-current-version',
          '--address', temporalAddress, '--deployment-name', deploymentName, '--build-id', BUILD_B, '--yes',
        ]);
        return cli.then(() => true, () => undefined); // refused until build B has polled
      },
      30_000,
    );
    // The order build A started is still in its charge: what follows shows where it finishes.
    expect((await call(stack.baseUrl, 'GET', `/api/orders/${onA}`)).body.status).toBe('RESERVED');

    const onB = await place(product.id);
    const b = await untilTerminal(stack.baseUrl, onB, 20_000);
    expect(b).toMatchObject({ status: 'COMPLETED' });
    expect((await versioningOf(onB))?.deploymentVersion).toMatchObject({ buildId: BUILD_B });
    expect(await buildsThatRan(onB)).toEqual(new Set([BUILD_B]));

    const a = await untilTerminal(stack.baseUrl, onA, 30_000);
    expect(a).toMatchObject({ status: 'COMPLETED', payment: { chargedCents: 800, refundedCents: 0 } });
    expect(await buildsThatRan(onA)).toEqual(new Set([BUILD_A]));

    const DRAINED = temporal.api.enums.v1.VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED;
    await waitFor(
      "build A's version to report DRAINED",
      async () => {
        const { workerDeploymentVersionInfo: info } = await client.workflowService.describeWorkerDeploymentVersion({
          namespace: 'default',
          deploymentVersion: { deploymentName, buildId: BUILD_A },
        });
        return info?.drainageInfo?.status === DRAINED ? true : undefined;
      },
      30_000,
    );
  });
});

describe("the upgrade query for runs of a release without Worker Versioning (docs/operations.md)", () => {
  it(`finds a run whose tasks an unversioned worker completed, and no versioned run: ${UNVERSIONED}`, async () => {
    const taskQueue = `unversioned-${randomUUID().slice(0, 8)}`;
    const connection = await NativeConnection.connect({ address: temporalAddress });
    // The saga's code on a worker without deployment options, as 0.3 ran; no activities, so the run waits at its first step.
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: { code: readFileSync(workflowBundlePath, 'utf8') },
    });
    let handle: WorkflowHandle | undefined;
    await worker.runUntil(async () => {
      handle = await client.workflow.start('orderSaga', {
        taskQueue,
        workflowId: `unversioned-${randomUUID()}`,
        args: [
          {
            orderId: randomUUID(), customerId: 'c-unversioned', items: [{ productId: 'sku-x', quantity: 1, priceCents: 1 }], amountCents: 1,
            paymentMethod: 'pm_card_visa', attempt: 1, idempotencyKey: null, requestHash: null, paymentBudgetMs: 60_000,
          },
        ],
      });
      await waitFor('its first workflow task done', async () => {
        const events = (await handle!.fetchHistory()).events ?? [];
        return events.some((e) => e.workflowTaskCompletedEventAttributes) ? true : undefined;
      });
    });
    await connection.close();
    const query = `WorkflowType = 'orderSaga' AND ExecutionStatus = 'Running' AND ${UNVERSIONED}`;
    const found = await waitFor('visibility to list it', async () => {
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
      return ids.includes(handle!.workflowId) ? ids : undefined;
    });
    expect(found).toContain(handle!.workflowId);
    // npm start counts it as a 0.3 run before it lets a build take new orders, and its terminate advice finds it.
    expect((await openOrdersByVersion(client)).unversioned).toContain(handle!.workflowId);
    const advised: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'orderSaga' AND ExecutionStatus = 'Running' AND ${RAN_UNVERSIONED}` })) {
      advised.push(w.workflowId);
    }
    expect(advised).toContain(handle!.workflowId);
    await handle!.terminate('test over');
  });
});

describe("npm start's count of 0.3 runs (openOrdersByVersion)", () => {
  it('does not count an order no worker has taken yet: its run has no version until its first workflow task completes', async () => {
    // The API alone: the order is accepted and its run started, and no worker polls its queue yet.
    const own = `not-yet-taken-${randomUUID().slice(0, 8)}`;
    const apiOnly = await startStack('not-yet-taken', { WORKER_DEPLOYMENT_NAME: own, WORKER_BUILD_ID: `build-c-${hash}` }, { worker: false });
    try {
      const product = await freshProduct(pool, { stock: 5, priceCents: 300 });
      const res = await call(apiOnly.baseUrl, 'POST', '/api/orders', { customerId: 'c-not-yet-taken', items: [{ productId: product.id, quantity: 1 }] });
      expect(res.status).toBe(202);
      const workflowId = workflowIdFor(res.body.orderId as string);
      await waitFor('visibility to list the run', async () => {
        for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Running'` })) return w;
        return undefined;
      });
      expect(await versioningOf(res.body.orderId as string)).toBeFalsy(); // what made it look like a 0.3 run

      const open = await openOrdersByVersion(client);
      expect(open.unversioned).not.toContain(workflowId);
      expect(open.notYetTaken).toContain(workflowId);
      // Nor does the terminate command npm start advises for 0.3 runs find it.
      const matched: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowType = 'orderSaga' AND ExecutionStatus = 'Running' AND ${RAN_UNVERSIONED}` })) {
        matched.push(w.workflowId);
      }
      expect(matched).not.toContain(workflowId);

      // It is an order of this release: the first worker to poll runs it to the end.
      await apiOnly.startWorker();
      expect(await untilTerminal(apiOnly.baseUrl, res.body.orderId as string, 30_000)).toMatchObject({ status: 'COMPLETED' });
    } finally {
      await apiOnly.stop();
    }
  });
});
