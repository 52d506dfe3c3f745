import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import request from 'supertest';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { Pool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';
import { createCodecServer } from '../../lib/temporal/codec-server';
import { parseKeyRing } from '../../lib/temporal/key-ring';
import { EncryptionCodec } from '../../lib/temporal/payload-codec';
import { freshProduct, testPool } from '../support/db';
import { call, untilTerminal } from '../support/http';
import { startStack, type Stack } from '../support/stack';

/**
 * PAYLOAD_ENCRYPTION_KEYS on the real API and worker processes: orders run as
 * before, Temporal stores ciphertext, and the codec server with the same keys
 * shows the order to an operator.
 */

const keys = `k1:${randomBytes(32).toString('base64')}`;
let stack: Stack;
let pool: Pool;
let plainClient: Client; // no keys: sees what the server stores

beforeAll(async () => {
  pool = testPool();
  await freshProduct(pool, { id: 'sku-sealed' });
  plainClient = new Client({ connection: await Connection.connect({ address: inject('testEnv').temporalAddress }) });
  // Payment takes a second, so a cancel (an update, its payloads encrypted both ways) lands while it runs.
  stack = await startStack('encrypted', { PAYLOAD_ENCRYPTION_KEYS: keys, PAYMENT_LATENCY_MS: '1000' });
});

afterAll(async () => {
  await stack?.stop();
  await plainClient?.connection.close();
  await pool?.end();
});

it('runs orders with encrypted payloads, readable only through the codec server', async () => {
  const created = await call(stack.baseUrl, 'POST', '/api/orders', {
    customerId: 'c-sealed-7',
    items: [{ productId: 'sku-sealed', quantity: 1 }],
    paymentMethod: 'pm_card_visa',
  });
  expect(created.status).toBe(202);
  expect((await untilTerminal(stack.baseUrl, created.body.orderId)).status).toBe('COMPLETED');

  const history = await plainClient.workflow.getHandle(`order-${created.body.orderId}`).fetchHistory();
  const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
  expect(Buffer.from(input.data!).includes('c-sealed-7')).toBe(false);

  const codecServer = createCodecServer({
    codec: new EncryptionCodec(parseKeyRing(keys)),
    authTokens: ['operator'],
    corsOrigins: [],
    namespace: 'default',
    logger: createLogger('test', 'silent'),
  });
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const decoded = await request(codecServer)
    .post('/codec/decode')
    .set('Authorization', 'Bearer operator')
    .send({ payloads: [{ metadata: { encoding: b64(input.metadata!.encoding!), 'encryption-key-id': b64(input.metadata!['encryption-key-id']!) }, data: b64(input.data!) }] });
  expect(decoded.status).toBe(200);
  const order = JSON.parse(Buffer.from(decoded.body.payloads[0].data, 'base64').toString());
  expect(order).toMatchObject({ orderId: created.body.orderId, customerId: 'c-sealed-7', paymentMethod: 'pm_card_visa' });
});

it('answers a cancel, whose update arguments and answer are encrypted too', async () => {
  const created = await call(stack.baseUrl, 'POST', '/api/orders', { customerId: 'c-sealed-8', items: [{ productId: 'sku-sealed', quantity: 1 }] });
  expect(created.status).toBe(202);
  const cancelled = await call(stack.baseUrl, 'POST', `/api/orders/${created.body.orderId}/cancel`);
  expect(cancelled.status).toBe(202);
  expect((await untilTerminal(stack.baseUrl, created.body.orderId)).status).toBe('CANCELLED');
});
