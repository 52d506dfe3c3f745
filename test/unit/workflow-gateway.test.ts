import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { TemporalUnavailableError, WorkflowClosedError, startFailureCause, temporalOrderWorkflows } from '../../api/orders/workflow-gateway';
import type { OrderInput } from '../../workflows/types';
import { testApp } from '../support/app';
import { countOrders, freshProduct, testPool } from '../support/db';

/**
 * How the gateway reports a start: a clean start, an open run that got there
 * first (with the attempt it runs, from its memo), or a server that did not
 * answer in time. The Temporal client is faked because the point is the
 * gateway's reading of the answers, not the server; what the API does with each
 * answer is tested end to end in test/e2e/start-paths.e2e.test.ts (and here over
 * HTTP, on the real PostgreSQL, for a refused registration of the search attributes).
 */

const input: OrderInput = {
  orderId: '11111111-1111-4111-8111-111111111111',
  customerId: 'c-1',
  items: [{ productId: 'sku-1', quantity: 1, priceCents: 100 }],
  amountCents: 100,
  paymentMethod: 'pm_card_visa',
  attempt: 2,
  idempotencyKey: null,
  requestHash: null,
  paymentBudgetMs: 60_000,
};

function grpcError(code: number): Error {
  return Object.assign(new Error(code === 4 ? 'deadline exceeded' : 'unavailable'), { code, details: 'x', metadata: {} });
}

interface FakeRun {
  status: { name: string };
  memo?: Record<string, unknown>;
}

function fakeClient(opts: { start: () => Promise<unknown>; describe?: () => Promise<FakeRun> }): { client: Client; starts: unknown[] } {
  const starts: unknown[] = [];
  const fake = {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflow: {
      start: async (_type: string, options: unknown) => {
        starts.push(options);
        return opts.start();
      },
      getHandle: () => ({ describe: opts.describe ?? (async () => ({ status: { name: 'RUNNING' } })) }),
    },
  };
  // A structural stand-in for the calls the gateway makes; the real Client has far more.
  return { client: fake as unknown as Client, starts };
}

describe('workflow gateway: starts', () => {
  it('reports a clean start, and records the attempt in the memo and allows a closed run of the id', async () => {
    const { client, starts } = fakeClient({ start: async () => ({ firstExecutionRunId: 'run-1' }) });
    await expect(temporalOrderWorkflows(client, 'q').start(input)).resolves.toEqual({ kind: 'STARTED', runId: 'run-1' });
    expect(starts[0]).toMatchObject({
      workflowId: `order-${input.orderId}`,
      memo: { attempt: 2 },
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: '1 item · 1.00 · customer c-1 · attempt 2',
    });
  });

  it('reports an open run with the attempt it runs', async () => {
    const { client } = fakeClient({
      start: async () => {
        throw new WorkflowExecutionAlreadyStartedError('already', `order-${input.orderId}`, 'orderSaga');
      },
      describe: async () => ({ status: { name: 'RUNNING' }, memo: { attempt: 1 } }),
    });
    await expect(temporalOrderWorkflows(client, 'q').start(input)).resolves.toEqual({ kind: 'RUNNING_ALREADY', runningAttempt: 1 });
  });

  it('names the cause of a start that failed for good: the gRPC status, else the error', () => {
    expect(startFailureCause(grpcError(7))).toBe('PERMISSION_DENIED');
    expect(startFailureCause(new Error('wrapped', { cause: grpcError(16) }))).toBe('UNAUTHENTICATED');
    expect(startFailureCause(new TypeError('codec'))).toBe('TypeError');
    expect(startFailureCause(new Error('codec'))).toBe('START_FAILED');
  });

  it('a timed-out or unreachable server is TemporalUnavailableError, whatever may have happened', async () => {
    for (const code of [4, 14]) {
      const { client } = fakeClient({
        start: async () => {
          throw grpcError(code);
        },
      });
      await expect(temporalOrderWorkflows(client, 'q').start(input)).rejects.toBeInstanceOf(TemporalUnavailableError);
    }
  });
});

/** A gRPC error as @grpc/grpc-js raises it: `code`, `details`, `metadata`, and the status in the message. */
function grpcStatus(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata: {} });
}

/**
 * A namespace without the order search attributes on a server that refuses to
 * register them, as Temporal Cloud does for an API key without operator rights:
 * every start fails INVALID_ARGUMENT naming the attribute, and the operator
 * service answers `register` (and, optionally, `list`) with `refusal`.
 */
function unpreparedNamespace(refusal: Error, { listRefused = false } = {}) {
  const calls = { starts: 0, lists: 0, adds: 0 };
  const fake = {
    options: { namespace: 'cloud-ns' },
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflow: {
      start: async () => {
        calls.starts++;
        throw grpcStatus(3, 'INVALID_ARGUMENT', 'Namespace cloud-ns has no mapping defined for search attribute OrderStatus');
      },
    },
    connection: {
      operatorService: {
        listSearchAttributes: async () => {
          calls.lists++;
          if (listRefused) throw refusal;
          return { customAttributes: {}, systemAttributes: { WorkflowId: 1 } };
        },
        addSearchAttributes: async () => {
          calls.adds++;
          throw refusal;
        },
      },
    },
  };
  // A structural stand-in for the calls the gateway makes; the real Client has far more.
  return { client: fake as unknown as Client, calls };
}

describe('workflow gateway: search attributes it may not register', () => {
  const denied = () => grpcStatus(7, 'PERMISSION_DENIED', 'Request unauthorized.');

  it.each([
    ['registering them', { listRefused: false }],
    ['even listing them', { listRefused: true }],
  ])('refused %s: the start is refused for good, with the cause, and later starts do not ask again', async (_name, opts) => {
    const { client, calls } = unpreparedNamespace(denied(), opts);
    const gateway = temporalOrderWorkflows(client, 'q');
    for (const round of [1, 2, 3]) {
      const err: unknown = await gateway.start(input).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `start ${round}`).toBeInstanceOf(Error);
      expect(err, `start ${round}`).not.toBeInstanceOf(TemporalUnavailableError);
      expect(startFailureCause(err), `start ${round}`).toBe('PERMISSION_DENIED');
      // One start per request (it must still be tried: someone may have registered them since), one refused registration in all.
      expect(calls.starts, `start ${round}`).toBe(round);
      expect(calls.lists + calls.adds, `start ${round}`).toBe(opts.listRefused ? 1 : 2);
    }
  });

  it('over HTTP: 503 TEMPORAL_START_REFUSED with the cause, nothing left behind, said again without asking again', async () => {
    const pool = testPool();
    try {
      const { client, calls } = unpreparedNamespace(denied());
      const app = testApp(pool, temporalOrderWorkflows(client, 'q'));
      const product = await freshProduct(pool);
      const before = await countOrders(pool);
      for (const round of [1, 2]) {
        const res = await request(app).post('/api/orders').send({ customerId: 'c-cloud', items: [{ productId: product.id, quantity: 1 }] });
        expect(res.status, `POST ${round}`).toBe(503);
        expect(res.body.error, `POST ${round}`).toMatchObject({ code: 'TEMPORAL_START_REFUSED', details: { cause: 'PERMISSION_DENIED' } });
      }
      expect(calls.adds).toBe(1);
      expect(await countOrders(pool)).toBe(before);
    } finally {
      await pool.end();
    }
  });

  it('a registration that timed out is TemporalUnavailableError, and the next start tries it again', async () => {
    const { client, calls } = unpreparedNamespace(grpcStatus(14, 'UNAVAILABLE', 'connection refused'));
    const gateway = temporalOrderWorkflows(client, 'q');
    await expect(gateway.start(input)).rejects.toBeInstanceOf(TemporalUnavailableError);
    await expect(gateway.start(input)).rejects.toBeInstanceOf(TemporalUnavailableError);
    expect(calls.adds).toBe(2);
  });
});

describe('workflow gateway: cancels', () => {
  it('an Update call cut off before its answer (the server restarted) is TemporalUnavailableError: the cancel may still apply', async () => {
    // Seen in the chaos run: the dev server was killed while the API waited for the cancel's
    // Update, and the API answered 500 INTERNAL instead of 503 "may still apply".
    const cutOff = new WorkflowUpdateRPCTimeoutOrCancelledError('Call cancelled', { cause: grpcError(1) });
    const fake = {
      withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
      workflow: { getHandle: () => ({ executeUpdate: async () => Promise.reject(cutOff) }) },
    };
    // A structural stand-in for the calls the gateway makes; the real Client has far more.
    const gateway = temporalOrderWorkflows(fake as unknown as Client, 'q');
    await expect(gateway.cancel(input.orderId)).rejects.toBeInstanceOf(TemporalUnavailableError);
  });

  it('an Update sent to a closed or terminated run is WorkflowClosedError, not "not cancellable"', async () => {
    const closed = new WorkflowNotFoundError('workflow execution already completed', `order-${input.orderId}`, undefined);
    const fake = {
      withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
      workflow: { getHandle: () => ({ executeUpdate: async () => Promise.reject(closed) }) },
    };
    // A structural stand-in for the calls the gateway makes; the real Client has far more.
    const gateway = temporalOrderWorkflows(fake as unknown as Client, 'q');
    await expect(gateway.cancel(input.orderId)).rejects.toBeInstanceOf(WorkflowClosedError);
  });
});
