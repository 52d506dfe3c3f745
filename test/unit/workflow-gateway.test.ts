import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { TemporalUnavailableError, temporalOrderWorkflows } from '../../api/orders/workflow-gateway';
import type { OrderInput } from '../../workflows/types';

/**
 * How the API reads an ambiguous start: a deadline that expired while an
 * overloaded server may still have persisted the workflow. The Temporal client
 * is faked because the point is the gateway's decision, not the server.
 */

const input: OrderInput = {
  orderId: '11111111-1111-4111-8111-111111111111',
  customerId: 'c-1',
  items: [{ productId: 'sku-1', quantity: 1, priceCents: 100 }],
  amountCents: 100,
  paymentMethod: 'pm_card_visa',
  attempt: 1,
  idempotencyKey: null,
  requestHash: null,
  paymentBudgetMs: 60_000,
};

function grpcError(code: number): Error {
  return Object.assign(new Error(code === 4 ? 'deadline exceeded' : 'unavailable'), { code, details: 'x', metadata: {} });
}

function fakeClient(opts: { startError: Error; describe: () => Promise<{ status: { name: string } }> }): Client {
  const fake = {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflow: {
      start: async () => {
        throw opts.startError;
      },
      getHandle: () => ({ describe: opts.describe }),
    },
  };
  // A structural stand-in for the two calls the gateway makes; the real Client has far more.
  return fake as unknown as Client;
}

describe('workflow gateway: ambiguous starts', () => {
  it('treats a timed-out start whose run exists as started', async () => {
    const client = fakeClient({ startError: grpcError(4), describe: async () => ({ status: { name: 'RUNNING' } }) });
    await expect(temporalOrderWorkflows(client, 'q').start(input)).resolves.toBeUndefined();
  });

  it('answers unavailable when the run does not exist', async () => {
    const client = fakeClient({
      startError: grpcError(4),
      describe: async () => {
        throw new Error('not found');
      },
    });
    await expect(temporalOrderWorkflows(client, 'q').start(input)).rejects.toBeInstanceOf(TemporalUnavailableError);
  });

  it('does not mistake the closed previous run for a retry that never started', async () => {
    const client = fakeClient({ startError: grpcError(14), describe: async () => ({ status: { name: 'FAILED' } }) });
    await expect(temporalOrderWorkflows(client, 'q').start({ ...input, attempt: 2 })).rejects.toBeInstanceOf(TemporalUnavailableError);
  });
});
