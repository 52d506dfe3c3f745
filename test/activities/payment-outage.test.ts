import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderUnavailableError } from '../../providers/payment-provider';
import { SimulatedPaymentProvider } from '../../providers/simulated-payment-provider';
import type { Pool } from '../../lib/db/pool';
import { testPool } from '../support/db';

/**
 * PAYMENT_OUTAGE_FILE, the test hook `npm run chaos` uses to take the simulated
 * provider down and bring it back while the worker keeps running.
 */
describe('simulated payment provider outage switch', () => {
  let pool: Pool;
  let dir: string;
  let outageFile: string;
  const signal = new AbortController().signal;
  const charge = (provider: SimulatedPaymentProvider, key: string) =>
    provider.charge({ idempotencyKey: key, amountCents: 1234, paymentMethod: 'pm_card_visa' }, signal);
  const ledger = async (key: string) =>
    (await pool.query('SELECT status, amount_cents, refunded_cents FROM simulated_provider.charges WHERE idempotency_key = $1', [key])).rows;

  beforeAll(() => {
    pool = testPool();
    dir = mkdtempSync(path.join(os.tmpdir(), 'payment-outage-'));
    outageFile = path.join(dir, 'down');
  });
  afterAll(async () => {
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails every charge and refund while the file exists, touching nothing, and works again once it is gone', async () => {
    const provider = new SimulatedPaymentProvider(pool, { latencyMs: 0, failureRate: 0, outageFile });
    const key = `order-${randomUUID()}-1`;

    writeFileSync(outageFile, '');
    await expect(charge(provider, key)).rejects.toBeInstanceOf(ProviderUnavailableError);
    await expect(provider.refund(key)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(await ledger(key)).toEqual([]);

    rmSync(outageFile);
    await expect(charge(provider, key)).resolves.toEqual({ status: 'SUCCEEDED', amountCents: 1234 });
    await expect(provider.refund(key)).resolves.toEqual({ chargedCents: 1234, refundedCents: 1234 });
    expect(await ledger(key)).toEqual([{ status: 'REFUNDED', amount_cents: 1234, refunded_cents: 1234 }]);
  });

  it('is off when no file is configured', async () => {
    const provider = new SimulatedPaymentProvider(pool, { latencyMs: 0, failureRate: 0 });
    writeFileSync(outageFile, '');
    try {
      await expect(charge(provider, `order-${randomUUID()}-1`)).resolves.toMatchObject({ status: 'SUCCEEDED' });
    } finally {
      rmSync(outageFile, { force: true });
    }
  });
});
