import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrderActivities } from '../../activities';
import { ensureSearchAttributes } from '../../lib/temporal/connection';
import { providerCall } from '../../activities/heartbeats';
import { abortableDelay } from '../../providers/simulated-services';
import { cancelOrderUpdate, orderStateQuery } from '../../workflows/definitions';
import { ErrorType, type OrderInput, type OrderState } from '../../workflows/types';
import { deferred, fakeActivities } from '../support/fake-activities';

/**
 * The saga's logic, path by path, against Temporal's time-skipping test server
 * with in-memory activities. Retry budgets of minutes and hours pass in
 * milliseconds of wall time because the server skips timers.
 */

let env: TestWorkflowEnvironment;
/**
 * The suite's real dev server, for the interleavings where the time-skipping
 * server behaves differently from a real one (it retries an activity whose
 * cancel was requested, and skips past heartbeat timeouts); the SDK's own docs
 * recommend a real server where behaviour matters more than skipping time.
 */
let devEnv: TestWorkflowEnvironment;
const { testServerPath, workflowBundlePath, temporalAddress } = inject('testEnv');
/** The maxCachedWorkflows of every worker the tests start (see the describe.each below). */
let workerCache: number | undefined;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath } },
  });
  // The saga upserts OrderStatus; the test server, like any server, must know it.
  await ensureSearchAttributes(env.client, 'default');
  devEnv = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress });
});

afterAll(async () => {
  await env?.teardown();
  await devEnv?.teardown();
});

function orderInput(overrides: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId: randomUUID(),
    customerId: 'c-1',
    items: [{ productId: 'sku-1', quantity: 2, priceCents: 500 }],
    amountCents: 1000,
    paymentMethod: 'pm_card_visa',
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 120_000,
    ...overrides,
  };
}

type SagaHandle = WorkflowHandle<(input: OrderInput) => Promise<OrderState>>;

/** Runs one saga on a fresh worker; `during` may interact with it before the result is awaited. */
async function runSaga(
  activities: OrderActivities,
  opts: { input?: OrderInput; during?: (handle: SagaHandle) => Promise<void>; on?: TestWorkflowEnvironment } = {},
): Promise<OrderState> {
  const on = opts.on ?? env;
  const taskQueue = `saga-${randomUUID()}`;
  const worker = await Worker.create({
    connection: on.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath },
    activities,
    maxCachedWorkflows: workerCache,
  });
  const input = opts.input ?? orderInput();
  return worker.runUntil(async () => {
    const handle: SagaHandle = await on.client.workflow.start('orderSaga', {
      taskQueue,
      workflowId: `order-${input.orderId}`,
      args: [input],
    });
    if (opts.during) await opts.during(handle);
    return handle.result();
  });
}

/**
 * A provider call that runs until the workflow cancels it. It heartbeats the way
 * the real activities do (activities/heartbeats.ts providerCall: every second),
 * so a cancel reaches it no sooner than it would reach production code.
 */
function blockUntilCancelled(started: () => void) {
  return async (): Promise<never> => {
    started();
    await providerCall((signal) => abortableDelay(24 * 3600_000, signal));
    throw new Error('a day passed and nothing cancelled this call');
  };
}

const failing = (type: string, retryable = true) => async () => {
  throw retryable ? ApplicationFailure.retryable('boom', type) : ApplicationFailure.nonRetryable('no', type);
};

/** The payment provider failing as activities/payments/activities.ts reports it: with the call's duration. */
const providerDown = (callMs = 300) => async () => {
  throw ApplicationFailure.create({ message: 'provider unavailable', type: ErrorType.ProviderUnavailable, details: [{ callMs }] });
};

/**
 * Every test runs on two workers: one that keeps runs in its cache, as a worker
 * in production does most of the time, and one that caches none, so that every
 * workflow task replays the run's whole history, as after a worker restart or an
 * eviction. A history that the saga's code cannot replay fails the second.
 */
describe.each([
  { worker: 'a caching worker', maxCachedWorkflows: undefined },
  { worker: 'a worker that caches no run', maxCachedWorkflows: 0 },
])('on $worker', ({ maxCachedWorkflows }) => {
  beforeAll(() => {
    workerCache = maxCachedWorkflows;
  });

  describe('order saga (time-skipping)', () => {
    it('happy path: reserve, charge, complete, then confirm', async () => {
      const fake = fakeActivities();
      const result = await runSaga(fake.activities);
      expect(result).toMatchObject({ status: 'COMPLETED', failureReason: null });
      expect(fake.names()).toEqual(['claimAndReserve', 'chargePayment', 'completeOrder', 'sendNotification']);
      // The reserve step claims the order for this run (its first run id).
      expect(fake.calls[0]?.args[1]).toEqual(expect.any(String));
      expect(fake.calls.at(-1)?.args[1]).toBe('order_confirmed');
    });

    it('out of stock: nothing is charged, the reservation is released', async () => {
      const fake = fakeActivities({ reserveInventory: failing(ErrorType.OutOfStock, false) });
      const result = await runSaga(fake.activities);
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'OUT_OF_STOCK' });
      // The reserve step failed, so its claim is confirmed before anything is undone.
      expect(fake.names()).toEqual(['claimAndReserve', 'claimOrder', 'markCompensating', 'releaseInventory', 'finishOrder']);
      expect(fake.calls.at(-1)?.args.slice(1)).toEqual(['FAILED', 'OUT_OF_STOCK']);
    });

    it('declined card: one charge attempt, then refund and release in reverse order', async () => {
      const fake = fakeActivities({ chargePayment: failing(ErrorType.PaymentDeclined, false) });
      const result = await runSaga(fake.activities);
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
      expect(fake.count('chargePayment')).toBe(1);
      expect(fake.names().slice(2)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
    });

    it('provider down past the payment budget: PAYMENT_UNAVAILABLE after minutes of retries', async () => {
      const fake = fakeActivities({ chargePayment: providerDown() });
      const before = Date.now();
      const result = await runSaga(fake.activities, { input: orderInput({ paymentBudgetMs: 5 * 60_000 }) });
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' });
      // Backoff 1 s doubling to 30 s over a 5-minute budget: about a dozen attempts.
      expect(fake.count('chargePayment')).toBeGreaterThanOrEqual(8);
      expect(fake.count('chargePayment')).toBeLessThanOrEqual(16);
      expect(fake.names().slice(-4)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
      // Sanity check that time was skipped rather than waited: five virtual minutes.
      expect(Date.now() - before).toBeLessThan(5 * 60_000);
    });

    it('transient provider errors are retried and the order completes', async () => {
      let attempts = 0;
      const fake = fakeActivities({
        chargePayment: async () => {
          if (++attempts < 4) await providerDown()();
        },
      });
      const result = await runSaga(fake.activities);
      expect(result.status).toBe('COMPLETED');
      expect(fake.count('chargePayment')).toBe(4);
      expect(fake.count('refundPayment')).toBe(0);
    });

    it('a notification failing for hours is retried; the order stays COMPLETED and is never refunded', async () => {
      let attempts = 0;
      const fake = fakeActivities({
        sendNotification: async () => {
          // Succeeds only after three hours of virtual time have passed.
          if (++attempts < 25) throw ApplicationFailure.retryable('smtp down', ErrorType.ProviderUnavailable);
        },
      });
      const result = await runSaga(fake.activities);
      expect(result.status).toBe('COMPLETED');
      expect(fake.count('sendNotification')).toBe(25);
      expect(fake.count('refundPayment')).toBe(0);
      expect(fake.count('releaseInventory')).toBe(0);
    });

    it('a notification that never succeeds gives up after its budget and still never refunds', async () => {
      const fake = fakeActivities({ sendNotification: failing(ErrorType.ProviderUnavailable) });
      const result = await runSaga(fake.activities);
      expect(result.status).toBe('COMPLETED');
      expect(fake.count('sendNotification')).toBeGreaterThan(100); // a day of retries, every 10 min at most
      expect(fake.names()).not.toContain('refundPayment');
    });

    it('a failing compensation is retried until it succeeds', async () => {
      let releases = 0;
      const fake = fakeActivities({
        reserveInventory: failing(ErrorType.OutOfStock, false),
        releaseInventory: async () => {
          if (++releases < 6) throw new Error('database restarting');
        },
      });
      const result = await runSaga(fake.activities);
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'OUT_OF_STOCK' });
      expect(fake.count('releaseInventory')).toBe(6);
      expect(fake.names().at(-1)).toBe('finishOrder');
    });

    it('cancel before the reserve step answers: the claim is confirmed, then stock is released', async () => {
      const started = deferred();
      const fake = fakeActivities({ reserveInventory: blockUntilCancelled(started.resolve) });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          // The cancel is answered once the database has it, which is after the claim.
          expect((await handle.executeUpdate(cancelOrderUpdate)).status).toBe('PENDING');
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names()).toEqual(['claimAndReserve', 'claimOrder', 'markCompensating', 'releaseInventory', 'finishOrder']);
      expect(fake.calls.at(-1)?.args.slice(1)).toEqual(['CANCELLED', 'CANCELLED_BY_CUSTOMER']);
    });

    it('an operator cancel before the reserve step claimed a withdrawn order: the run touches nothing', async () => {
      const started = deferred();
      // Cancelled before its claim (still queued, say); the API then withdrew the order.
      const fake = fakeActivities({ claimAndReserve: blockUntilCancelled(started.resolve) }, { claimable: false });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          await handle.cancel();
        },
      });
      expect(result).toMatchObject({ status: 'PENDING', abandoned: true });
      expect(fake.names()).toEqual(['claimAndReserve', 'claimOrder']);
    });

    it('cancel during the inventory step interrupts it and releases', async () => {
      const started = deferred();
      const fake = fakeActivities({ reserveInventory: blockUntilCancelled(started.resolve) });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          await handle.executeUpdate(cancelOrderUpdate);
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names()).toEqual(['claimAndReserve', 'claimOrder', 'markCompensating', 'releaseInventory', 'finishOrder']);
    });

    it('cancel during the payment step refunds, then releases', async () => {
      const started = deferred();
      const fake = fakeActivities({ chargePayment: blockUntilCancelled(started.resolve) });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          expect((await handle.query(orderStateQuery)).status).toBe('RESERVED');
          await handle.executeUpdate(cancelOrderUpdate);
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names().slice(-4)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
    });

    it('an operator cancelling the workflow (Web UI, CLI) is undone like a customer cancel', async () => {
      const started = deferred();
      const fake = fakeActivities({ chargePayment: blockUntilCancelled(started.resolve) });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          await handle.cancel();
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names().slice(-4)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
    });

    it('cancel while payment retries are backing off stops waiting at once', async () => {
      const fake = fakeActivities({ chargePayment: providerDown() });
      const result = await runSaga(fake.activities, {
        input: orderInput({ paymentBudgetMs: 60 * 60_000 }),
        during: async (handle) => {
          await env.sleep('2 minutes');
          await handle.executeUpdate(cancelOrderUpdate);
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      // Far fewer attempts than an hour's budget would allow.
      expect(fake.count('chargePayment')).toBeLessThan(12);
      expect(fake.names().slice(-3)).toEqual(['refundPayment', 'releaseInventory', 'finishOrder']);
    });

    it('cancel after completion is rejected with NotCancellable and changes nothing', async () => {
      const started = deferred();
      const release = deferred();
      const fake = fakeActivities({
        sendNotification: async () => {
          started.resolve();
          await release.promise;
        },
      });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          const err = await handle.executeUpdate(cancelOrderUpdate).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
          expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(ErrorType.NotCancellable);
          release.resolve();
        },
      });
      expect(result.status).toBe('COMPLETED');
      expect(fake.names()).not.toContain('refundPayment');
    });

    it('a retried order (attempt 2) passes its attempt to every step', async () => {
      const fake = fakeActivities();
      await runSaga(fake.activities, { input: orderInput({ attempt: 2 }) });
      for (const call of fake.calls) {
        expect(call.args[0]).toMatchObject({ attempt: 2 });
      }
    });

    it("claims with the token of the request that committed the attempt", async () => {
      const fake = fakeActivities();
      await runSaga(fake.activities, { input: orderInput({ startToken: 'a0000000-0000-4000-8000-00000000000a' }) });
      const claim = fake.calls.find((c) => c.name === 'claimAndReserve')!;
      expect(claim.args[2]).toBe('a0000000-0000-4000-8000-00000000000a');
    });

    // An earlier try of the workflow task finished the order in PostgreSQL, then the task
    // was lost; the retried task meets the cancel first and markCompensating reports the row.
    it.each([
      ['COMPLETED', null],
      ['FAILED', 'PAYMENT_DECLINED'],
    ] as const)('a cancel that meets an order the database already shows %s is refused, and nothing is undone', async (status, failureReason) => {
      const started = deferred();
      const fake = fakeActivities({
        chargePayment: blockUntilCancelled(started.resolve),
        markCompensating: async () => ({ status, failureReason }),
      });
      let refusal: unknown;
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          refusal = await handle.executeUpdate(cancelOrderUpdate).catch((e: unknown) => e);
        },
      });
      expect(refusal).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((refusal as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(ErrorType.NotCancellable);
      expect(result).toMatchObject({ status, failureReason });
      for (const undo of ['refundPayment', 'releaseInventory', 'finishOrder'] as const) expect(fake.names()).not.toContain(undo);
      if (status === 'COMPLETED') expect(fake.names().at(-1)).toBe('sendNotification');
    });

    it('a cancel handled again after an earlier try of its task cancelled the order is answered as done, not refused', async () => {
      const started = deferred();
      const fake = fakeActivities({
        chargePayment: blockUntilCancelled(started.resolve),
        // The earlier try's local activities had already written CANCELLED.
        markCompensating: async () => ({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' }),
      });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          await handle.executeUpdate(cancelOrderUpdate);
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      for (const undo of ['refundPayment', 'releaseInventory', 'finishOrder'] as const) expect(fake.names()).not.toContain(undo);
    });

    it('a cancel accepted while the saga confirms its claim after a failed reserve still wins', async () => {
      const claiming = deferred();
      const accepted = deferred();
      const fake = fakeActivities({
        reserveInventory: failing(ErrorType.OutOfStock, false),
        claimOrder: async () => {
          claiming.resolve();
          await accepted.promise;
          return true;
        },
      });
      // On the real server: the claim outlasts a workflow task, whose heartbeat delivers the cancel.
      const result = await runSaga(fake.activities, {
        on: devEnv,
        during: async (handle) => {
          await claiming.promise;
          const update = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          accepted.resolve();
          await update.result();
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names().slice(-3)).toEqual(['markCompensating', 'releaseInventory', 'finishOrder']);
    });

    it('an operator cancel that reaches a charge too short to heartbeat is undone, not ignored', async () => {
      const charging = deferred();
      const cancelled = deferred();
      const fake = fakeActivities({
        // Completes without a heartbeat, as a 300 ms charge does, after the cancel was requested.
        chargePayment: async () => {
          charging.resolve();
          await cancelled.promise;
        },
      });
      const result = await runSaga(fake.activities, {
        on: devEnv,
        during: async (handle) => {
          await charging.promise;
          await handle.cancel();
          await new Promise((r) => setTimeout(r, 300));
          cancelled.resolve();
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names().slice(-4)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
      expect(fake.names()).not.toContain('completeOrder');
    });

    it('an operator cancel of a completed order does not stop its confirmation', async () => {
      const confirming = deferred();
      let tries = 0;
      const fake = fakeActivities({
        sendNotification: async () => {
          if (++tries > 1) return;
          // The first (local) try outlasts a workflow task, so the cancel reaches the
          // saga while it runs; then it fails and the activity sends the confirmation.
          confirming.resolve();
          await new Promise((r) => setTimeout(r, 9_000));
          throw ApplicationFailure.retryable('smtp down', ErrorType.ProviderUnavailable);
        },
      });
      const result = await runSaga(fake.activities, {
        on: devEnv,
        during: async (handle) => {
          await confirming.promise;
          await handle.cancel();
        },
      });
      expect(result.status).toBe('COMPLETED');
      expect(fake.count('sendNotification')).toBe(2);
      expect(fake.names()).not.toContain('refundPayment');
    });

    it("a customer's cancel is in the history before any database write acts on it", async () => {
      // The cancel arrives while the saga waits out the provider's backoff, so no
      // activity round trip separates its acceptance from the saga's reaction.
      const started = deferred();
      const down = providerDown();
      const fake = fakeActivities({
        chargePayment: async () => {
          started.resolve();
          return down();
        },
      });
      let events: string[] = [];
      await runSaga(fake.activities, {
        on: devEnv,
        during: async (handle) => {
          await started.promise;
          await handle.executeUpdate(cancelOrderUpdate);
          await handle.result();
          events = ((await handle.fetchHistory()).events ?? []).map((e) => eventTypeName(e.eventType));
        },
      });
      // The task that accepted the cancel wrote nothing: every write after it is
      // an activity, scheduled by that task and started only once its completion
      // made the acceptance durable.
      const accepted = events.indexOf('WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
      expect(accepted).toBeGreaterThan(0);
      expect(events).not.toContain('MARKER_RECORDED');
    });

    it('a run whose order was withdrawn by the API does nothing', async () => {
      const fake = fakeActivities({}, { claimable: false });
      const result = await runSaga(fake.activities);
      expect(result).toMatchObject({ status: 'PENDING', abandoned: true });
      expect(fake.names()).toEqual(['claimAndReserve']);
    });

    it('an unknown failure compensates, then waits for a fix: the workflow task fails, the workflow stays open', async () => {
      const released = deferred();
      const fake = fakeActivities({
        reserveInventory: failing('SomethingNew', false),
        releaseInventory: async () => released.resolve(),
      });
      const taskQueue = `saga-${randomUUID()}`;
      const worker = await Worker.create({
        connection: devEnv.nativeConnection,
        taskQueue,
        workflowBundle: { codePath: workflowBundlePath },
        activities: fake.activities,
        maxCachedWorkflows: workerCache,
      });
      const input = orderInput();
      await worker.runUntil(async () => {
        const handle = await devEnv.client.workflow.start('orderSaga', { taskQueue, workflowId: `order-${input.orderId}`, args: [input] });
        await released.promise;
        const history = await waitForEvent(handle, 'WORKFLOW_TASK_FAILED');
        expect(history).toBeDefined();
        expect((await handle.describe()).status.name).toBe('RUNNING');
        await handle.terminate('test over');
      });
      expect(fake.names()).toEqual(['claimAndReserve', 'claimOrder', 'markCompensating', 'releaseInventory']);
    });

    it('a database outage in the payment step does not spend the payment budget', async () => {
      let attempts = 0;
      const fake = fakeActivities({
        chargePayment: async () => {
          // About ten minutes of backoff (1 s doubling to 30 s) against a 2-minute budget.
          if (++attempts <= 25) throw new Error('Connection terminated unexpectedly');
        },
      });
      const result = await runSaga(fake.activities, { input: orderInput({ paymentBudgetMs: 120_000 }) });
      expect(result).toMatchObject({ status: 'COMPLETED', failureReason: null });
      expect(fake.count('chargePayment')).toBe(26);
      expect(fake.count('refundPayment')).toBe(0);
    });

    it('the payment budget counts the provider\'s time: slow failing calls use it up sooner', async () => {
      // Each call fails after 20 s (the client-side timeout), with waits of 1, 2, 4, 8 s between:
      // after the fifth call 5 × 20 s + 15 s = 115 s are spent, and the next 16 s wait would pass
      // the 2-minute budget. Calls failing at once would get about a dozen tries.
      const fake = fakeActivities({ chargePayment: providerDown(20_000) });
      const result = await runSaga(fake.activities, { input: orderInput({ paymentBudgetMs: 120_000 }) });
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_UNAVAILABLE' });
      expect(fake.count('chargePayment')).toBe(5);
    });

    it('a long database outage backs off with durable timers, not inside one open workflow task', async () => {
      let attempts = 0;
      const fake = fakeActivities({
        completeOrder: async () => {
          if (++attempts <= 12) throw new Error('database restarting');
        },
      });
      let timers = 0;
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await handle.result();
          const history = await handle.fetchHistory();
          timers = (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
        },
      });
      expect(result.status).toBe('COMPLETED');
      expect(fake.count('completeOrder')).toBe(13);
      expect(timers).toBeGreaterThan(0);
    });

    /**
     * The interleaving that left saga 0.4's orders COMPENSATING for good: a cancel
     * accepted during the charge, a refund that fails through a provider outage
     * long enough to back off 16 s, a cancel repeated while it does, then a worker
     * restart, so that the next task replays the run from its first event. On the
     * real dev server, whose workflow task heartbeats the evidence histories show.
     */
    it(
      'a cancel repeated while the refund backs off through a provider outage, then a worker restart: CANCELLED, and the history replays',
      async () => {
        const started = deferred();
        const refunding = deferred();
        let refunds = 0;
        const fake = fakeActivities({
          chargePayment: blockUntilCancelled(started.resolve),
          refundPayment: async () => {
            refunding.resolve();
            // Five failures: the sixth attempt waits 16 s, past the 10 s local retry
            // threshold that made 0.4's local refund a workflow timer.
            if (++refunds <= 5) throw ApplicationFailure.retryable('payment provider unavailable (simulated outage)', ErrorType.ProviderUnavailable);
          },
        });
        const input = orderInput();
        const taskQueue = `saga-${randomUUID()}`;
        const startWorker = () =>
          Worker.create({
            connection: devEnv.nativeConnection,
            taskQueue,
            workflowBundle: { codePath: workflowBundlePath },
            activities: fake.activities,
            maxCachedWorkflows: workerCache,
          });
        const handle: SagaHandle = await devEnv.client.workflow.start('orderSaga', { taskQueue, workflowId: `order-${input.orderId}`, args: [input] });
        await (await startWorker()).runUntil(async () => {
          await started.promise;
          const first = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          await refunding.promise;
          // The refund is between attempts, in the workflow task that scheduled it.
          await new Promise((r) => setTimeout(r, 2_000));
          const repeated = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          expect((await first.result()).status).toBe('RESERVED');
          expect((await repeated.result()).status).toBe('COMPENSATING');
        });
        // The first worker has stopped; this one holds nothing of the run in memory.
        const result = await (await startWorker()).runUntil(resultOrFailedTask(handle));
        expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
        expect(fake.count('refundPayment')).toBe(6);
        expect(fake.names().slice(-2)).toEqual(['releaseInventory', 'finishOrder']);
        const history = await handle.fetchHistory();
        await Worker.runReplayHistory({ workflowBundle: { codePath: workflowBundlePath } }, history, handle.workflowId);
      },
      120_000,
    );

    it('a cancel repeated while the first one is being carried out is accepted again', async () => {
      const started = deferred();
      const compensating = deferred();
      const release = deferred();
      const fake = fakeActivities({
        chargePayment: blockUntilCancelled(started.resolve),
        releaseInventory: async () => {
          compensating.resolve();
          await release.promise;
        },
      });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          const first = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          await compensating.promise;
          const second = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          release.resolve();
          expect((await first.result()).status).toBe('RESERVED');
          expect((await second.result()).status).toBe('COMPENSATING');
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
    });

    it('a customer cancel still waiting for its answer survives an operator cancelling the workflow', async () => {
      const started = deferred();
      const releaseCharge = deferred();
      const fake = fakeActivities({
        chargePayment: async () => {
          started.resolve();
          await releaseCharge.promise; // between heartbeats: the cancel has not reached it yet
        },
      });
      const result = await runSaga(fake.activities, {
        on: devEnv,
        during: async (handle) => {
          await started.promise;
          const customer = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          await handle.cancel();
          await new Promise((r) => setTimeout(r, 300));
          releaseCharge.resolve();
          expect((await customer.result()).status).toBe('RESERVED');
        },
      });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
      expect(fake.names().slice(-4)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
    });

    it("a customer's cancel during the compensation of an operator's workflow cancel is accepted: the order ends CANCELLED", async () => {
      const started = deferred();
      const compensating = deferred();
      const release = deferred();
      const fake = fakeActivities({
        chargePayment: blockUntilCancelled(started.resolve),
        releaseInventory: async () => {
          compensating.resolve();
          await release.promise;
        },
      });
      let answer: unknown;
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await started.promise;
          await handle.cancel(); // the operator, from the Web UI
          await compensating.promise;
          const customer = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED }).catch((e: unknown) => e);
          release.resolve();
          answer = customer instanceof Error ? customer : await (customer as { result(): Promise<unknown> }).result();
        },
      });
      expect(answer).toMatchObject({ status: 'COMPENSATING' });
      expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
    });

    /**
     * One workflow task on two workers at once: W1 lost Temporal but kept
     * PostgreSQL, so its task timed out while its local activities went on; W2
     * replays that task with a customer's cancel in it. The row below behaves as
     * PostgreSQL does (activities/orders/activities.ts): W1's writes land in it
     * from the side, W2's go through the saga's activities.
     */
    it('a cancel that meets a compensation another try of the task began for another reason is refused, never 202 and then FAILED', async () => {
      const row = { status: 'RESERVED' as string, failureReason: null as string | null };
      const charging = deferred();
      const cancelAccepted = deferred();
      const fake = fakeActivities({
        chargePayment: async () => {
          charging.resolve();
          await cancelAccepted.promise;
          // W1, which saw the decline without the cancel, began compensating first.
          Object.assign(row, { status: 'COMPENSATING', failureReason: 'PAYMENT_DECLINED' });
          throw ApplicationFailure.nonRetryable('declined', ErrorType.PaymentDeclined);
        },
        markCompensating: async (_ref: unknown, reason?: string | null) => {
          if (row.status === 'COMPENSATING' || ['COMPLETED', 'FAILED', 'CANCELLED'].includes(row.status)) {
            return { status: row.status, failureReason: row.failureReason } as never;
          }
          Object.assign(row, { status: 'COMPENSATING', failureReason: reason ?? null });
          return { status: 'COMPENSATING', failureReason: reason ?? null } as never;
        },
        releaseInventory: async () => {
          // W1 finishes meanwhile.
          if (row.status === 'COMPENSATING') Object.assign(row, { status: 'FAILED' });
        },
        finishOrder: async (_ref, status, reason) => {
          if (row.status === status && row.failureReason === reason) return;
          if (row.status !== 'COMPENSATING') throw ApplicationFailure.nonRetryable(`conflict: ${row.status} (${row.failureReason}), wanted ${status} (${reason})`);
          Object.assign(row, { status, failureReason: reason });
        },
      });
      let answer: unknown;
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await charging.promise;
          const update = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
          cancelAccepted.resolve();
          answer = await update.result().catch((e: unknown) => e);
        },
      }).catch((e: unknown) => e);
      expect(answer).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((answer as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(ErrorType.NotCancellable);
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
      expect(row).toEqual({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
    });

    it('a cancel while the order is compensating is refused (409), and the order ends as it was going to', async () => {
      const compensating = deferred();
      const release = deferred();
      const fake = fakeActivities({
        chargePayment: failing(ErrorType.PaymentDeclined, false),
        releaseInventory: async () => {
          compensating.resolve();
          await release.promise;
        },
      });
      const result = await runSaga(fake.activities, {
        during: async (handle) => {
          await compensating.promise;
          const err = await handle.executeUpdate(cancelOrderUpdate).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
          expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(ErrorType.NotCancellable);
          release.resolve();
        },
      });
      expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED', cancelRequested: false });
    });
  });

  /**
   * Once a cancel is accepted the order ends CANCELLED after compensating, however
   * the interrupted step then ends. On the real dev server (see devEnv). Each fake step waits until the cancel has been
   * accepted and then ends its own way; none heartbeats, so the cancel is not
   * delivered to it (as with a call that is between heartbeats when it ends).
   */
  describe('an accepted cancel wins, whatever ends the interrupted step', () => {
    type Ending = [string, (signal: AbortSignal) => Promise<void>];
    const endings = (businessFailure: string): Ending[] => [
      ['completes', async () => undefined],
      ['fails with a retryable error', async () => {
        throw ApplicationFailure.retryable('provider 503', ErrorType.ProviderUnavailable);
      }],
      ['fails with a business error', async () => {
        throw ApplicationFailure.nonRetryable('no', businessFailure);
      }],
      ['times out (its worker stopped heartbeating)', (signal) => new Promise<void>((_, reject) => {
        // Stands for a dead worker: no heartbeat until the server times the attempt out.
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      })],
    ];

    for (const [step, businessFailure] of [['reserveInventory', ErrorType.OutOfStock], ['chargePayment', ErrorType.PaymentDeclined]] as const) {
      for (const [how, end] of endings(businessFailure)) {
        it(`cancel during ${step}, which then ${how}: CANCELLED, compensated`, async () => {
          const started = deferred();
          const accepted = deferred();
          let attempts = 0;
          const fake = fakeActivities({
            [step]: async () => {
              if (++attempts > 1) {
                // A retry, should the server make one, behaves like production code:
                // it heartbeats and honours the cancel.
                await providerCall((signal) => abortableDelay(24 * 3600_000, signal));
                return;
              }
              started.resolve();
              await accepted.promise;
              await end(Context.current().cancellationSignal);
            },
          });
          const result = await runSaga(fake.activities, {
            on: devEnv,
            during: async (handle) => {
              await started.promise;
              const update = await handle.startUpdate(cancelOrderUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
              accepted.resolve();
              await update.result(); // 202: answered once PostgreSQL recorded COMPENSATING
            },
          });
          expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
          const tail = fake.names().slice(fake.names().indexOf('markCompensating'));
          // A reservation that completed after the cancel also registers the refund
          // before the charge is refused in the cancelled scope; the refund finds nothing.
          const refunds = step === 'chargePayment' || how === 'completes';
          expect(tail).toEqual(
            refunds
              ? ['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']
              : ['markCompensating', 'releaseInventory', 'finishOrder'],
          );
          expect(fake.calls.at(-1)?.args.slice(1)).toEqual(['CANCELLED', 'CANCELLED_BY_CUSTOMER']);
          expect(fake.names()).not.toContain('completeOrder');
          expect(fake.count('chargePayment')).toBeLessThanOrEqual(step === 'chargePayment' ? 2 : 0);
        });
      }
    }
  });
});

/** The run's result, or an error with the failure of its first failed workflow task, whichever comes first. */
async function resultOrFailedTask(handle: SagaHandle): Promise<OrderState> {
  let done = false;
  const failedTask = (async (): Promise<never> => {
    while (!done) {
      const events = (await handle.fetchHistory()).events ?? [];
      const failed = events.find((e) => e.workflowTaskFailedEventAttributes);
      if (failed) throw new Error(`workflow task failed: ${failed.workflowTaskFailedEventAttributes?.failure?.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return new Promise<never>(() => undefined);
  })();
  try {
    return await Promise.race([handle.result(), failedTask]);
  } finally {
    done = true;
  }
}

async function waitForEvent(handle: WorkflowHandle, eventType: string) {
  for (let i = 0; i < 200; i++) {
    const history = await handle.fetchHistory();
    const found = (history.events ?? []).find((e) => eventTypeName(e.eventType) === eventType);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${eventType} event`);
}

function eventTypeName(type: unknown): string {
  // The history's eventType is the proto enum number; its name has the EVENT_TYPE_ prefix.
  const names = temporal.api.enums.v1.EventType as unknown as Record<number, string>;
  return String(names[type as number] ?? type).replace(/^EVENT_TYPE_/, '');
}
