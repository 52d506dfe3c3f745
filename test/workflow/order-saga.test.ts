import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrderActivities } from '../../activities';
import { ensureSearchAttributes } from '../../lib/temporal/connection';
import { cancelOrderUpdate, orderStateQuery } from '../../workflows/definitions';
import { ErrorType, type OrderInput, type OrderState } from '../../workflows/types';
import { deferred, fakeActivities } from '../support/fake-activities';

/**
 * The saga's logic, path by path, against Temporal's time-skipping test server
 * with in-memory activities. Retry budgets of minutes and hours pass in
 * milliseconds of wall time because the server skips timers.
 */

let env: TestWorkflowEnvironment;
const { testServerPath, workflowBundlePath } = inject('testEnv');

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath } },
  });
  // The saga upserts OrderStatus; the test server, like any server, must know it.
  await ensureSearchAttributes(env.client, 'default');
});

afterAll(async () => {
  await env?.teardown();
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
  opts: { input?: OrderInput; during?: (handle: SagaHandle) => Promise<void> } = {},
): Promise<OrderState> {
  const taskQueue = `saga-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath },
    activities,
  });
  const input = opts.input ?? orderInput();
  return worker.runUntil(async () => {
    const handle: SagaHandle = await env.client.workflow.start('orderSaga', {
      taskQueue,
      workflowId: `order-${input.orderId}`,
      args: [input],
    });
    if (opts.during) await opts.during(handle);
    return handle.result();
  });
}

/** An activity that runs until the workflow cancels it (it heartbeats so the cancel reaches it). */
function blockUntilCancelled(started: () => void) {
  return async () => {
    started();
    const ctx = Context.current();
    for (;;) {
      ctx.heartbeat();
      await ctx.sleep(50); // rejects with CancelledFailure once the cancel arrives
    }
  };
}

const failing = (type: string, retryable = true) => async () => {
  throw retryable ? ApplicationFailure.retryable('boom', type) : ApplicationFailure.nonRetryable('no', type);
};

describe('order saga (time-skipping)', () => {
  it('happy path: reserve, charge, complete, then confirm', async () => {
    const fake = fakeActivities();
    const result = await runSaga(fake.activities);
    expect(result).toMatchObject({ status: 'COMPLETED', failureReason: null });
    expect(fake.names()).toEqual(['recordOrder', 'reserveInventory', 'chargePayment', 'completeOrder', 'sendNotification']);
    expect(fake.calls.at(-1)?.args[1]).toBe('order_confirmed');
  });

  it('out of stock: nothing is charged, the reservation is released', async () => {
    const fake = fakeActivities({ reserveInventory: failing(ErrorType.OutOfStock, false) });
    const result = await runSaga(fake.activities);
    expect(result).toMatchObject({ status: 'FAILED', failureReason: 'OUT_OF_STOCK' });
    expect(fake.names()).toEqual(['recordOrder', 'reserveInventory', 'markCompensating', 'releaseInventory', 'finishOrder']);
    expect(fake.calls.at(-1)?.args.slice(1)).toEqual(['FAILED', 'OUT_OF_STOCK']);
  });

  it('declined card: one charge attempt, then refund and release in reverse order', async () => {
    const fake = fakeActivities({ chargePayment: failing(ErrorType.PaymentDeclined, false) });
    const result = await runSaga(fake.activities);
    expect(result).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
    expect(fake.count('chargePayment')).toBe(1);
    expect(fake.names().slice(3)).toEqual(['markCompensating', 'refundPayment', 'releaseInventory', 'finishOrder']);
  });

  it('provider down past the payment budget: PAYMENT_UNAVAILABLE after minutes of retries', async () => {
    const fake = fakeActivities({ chargePayment: failing(ErrorType.ProviderUnavailable) });
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
        if (++attempts < 4) throw ApplicationFailure.retryable('flaky', ErrorType.ProviderUnavailable);
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

  it('cancel while the order is being recorded: nothing is reserved or charged', async () => {
    const started = deferred();
    const release = deferred();
    const fake = fakeActivities({
      recordOrder: async () => {
        started.resolve();
        await release.promise;
      },
    });
    const result = await runSaga(fake.activities, {
      during: async (handle) => {
        await started.promise;
        const accepted = await handle.executeUpdate(cancelOrderUpdate);
        expect(accepted.status).toBe('PENDING');
        release.resolve();
      },
    });
    expect(result).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER' });
    expect(fake.names()).not.toContain('chargePayment');
    expect(fake.names().slice(-3)).toEqual(['markCompensating', 'releaseInventory', 'finishOrder']);
    expect(fake.calls.at(-1)?.args.slice(1)).toEqual(['CANCELLED', 'CANCELLED_BY_CUSTOMER']);
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
    expect(fake.names()).toEqual(['recordOrder', 'reserveInventory', 'markCompensating', 'releaseInventory', 'finishOrder']);
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

  it('cancel while payment retries are backing off stops waiting at once', async () => {
    const fake = fakeActivities({ chargePayment: failing(ErrorType.ProviderUnavailable) });
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
    for (const call of fake.calls.filter((c) => c.name !== 'recordOrder')) {
      expect(call.args[0]).toMatchObject({ attempt: 2 });
    }
  });
});
