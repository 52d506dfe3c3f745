import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { ORDER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { freshProduct, testPool } from '../support/db';
import { call } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * An order placed on a namespace nobody has prepared yet (no setup step ran, no
 * worker started: the worker registers the search attributes too) used to get a
 * 500: the server refuses a start that sets unknown search attributes. The API
 * now registers them and starts the order.
 */
let pool: Pool;
let connection: Connection;
let stack: Stack;
const namespace = `unprepared-${process.pid}`;

beforeAll(async () => {
  pool = testPool();
  connection = await Connection.connect({ address: inject('testEnv').temporalAddress });
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await waitFor('the new namespace', async () => (await connection.workflowService.describeNamespace({ namespace })) ?? undefined);
  stack = await startStack('unprepared', { TEMPORAL_NAMESPACE: namespace }, { worker: false });
});

afterAll(async () => {
  await stack?.stop();
  await connection?.close();
  await pool?.end();
});

describe('a namespace without the search attributes', () => {
  it('accepts the order and registers them, instead of answering 500', async () => {
    const before = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(before.customAttributes ?? {})).not.toContain('OrderStatus');

    const product = await freshProduct(pool, { stock: 3 });
    const res = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-unprepared', items: [{ productId: product.id, quantity: 1 }] });
    expect(res.status, JSON.stringify(res.body)).toBe(202);

    const after = await connection.operatorService.listSearchAttributes({ namespace });
    for (const key of ORDER_SEARCH_ATTRIBUTES) expect(after.customAttributes ?? {}, key.name).toHaveProperty(key.name);
    const order = await call(stack.baseUrl, 'GET', `/api/orders/${res.body.orderId}`);
    expect(order.body.status).toBe('PENDING');
  });
});
