import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSlowCharge } from '../../providers/simulated-payment-provider';
import { postOrders } from '../../bench/load';

/**
 * The failure mix's cancels and slow charges decide the benchmark's
 * `cancelNotHonoured` figure and the slow-call count it reports, so the load
 * generator's cancels and the slow-payment choice are checked here.
 */
describe('benchmark failure mix', () => {
  let server: http.Server;
  let baseUrl = '';
  const cancelled: string[] = [];
  let next = 0;

  beforeAll(async () => {
    // Accepts every order; accepts the cancel of even-numbered orders, refuses the others.
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const cancel = /^\/api\/orders\/(o-(\d+))\/cancel$/.exec(req.url ?? '');
        res.setHeader('content-type', 'application/json');
        if (cancel) {
          cancelled.push(cancel[1]!);
          const ok = Number(cancel[2]) % 2 === 0;
          res.writeHead(ok ? 202 : 409).end(JSON.stringify(ok ? { orderId: cancel[1], status: 'RESERVED' } : { code: 'NOT_CANCELLABLE' }));
          return;
        }
        res.writeHead(202).end(JSON.stringify({ orderId: `o-${next++}`, status: 'PENDING' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('cancels accepted orders after a delay and records every answer before returning', async () => {
    const load = await postOrders(baseUrl, 100, 0.2, () => ({}), { share: 1, maxDelayMs: 50 });
    expect(load.accepted).toHaveLength(20);
    expect(load.cancels).toHaveLength(20);
    expect(new Set(cancelled)).toEqual(new Set(load.accepted.map((a) => a.orderId)));
    for (const c of load.cancels) {
      expect(c.delayMs).toBeGreaterThanOrEqual(0);
      expect(c.delayMs).toBeLessThanOrEqual(50);
      const even = Number(c.orderId.slice(2)) % 2 === 0;
      expect(c).toMatchObject(even ? { status: 202, acceptedIn: 'RESERVED' } : { status: 409, acceptedIn: undefined });
    }
  });

  it('sends no cancel without a cancel mix', async () => {
    const before = cancelled.length;
    const load = await postOrders(baseUrl, 100, 0.1, () => ({}));
    expect(load.cancels).toEqual([]);
    expect(cancelled).toHaveLength(before);
  });

  it('slows about the configured share of payments, the same ones on every call', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `order-${i}-1`);
    const slow = keys.filter((k) => isSlowCharge(k, 0.01));
    expect(slow.length).toBeGreaterThan(140);
    expect(slow.length).toBeLessThan(260);
    expect(keys.filter((k) => isSlowCharge(k, 0.01))).toEqual(slow);
    expect(keys.some((k) => isSlowCharge(k, 0))).toBe(false);
    expect(keys.every((k) => isSlowCharge(k, 1))).toBe(true);
  });
});
