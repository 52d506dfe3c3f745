import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../../api/app';
import { testApp } from '../support/app';
import type { OrderWorkflows, StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import type { OrderInput } from '../../workflows/types';
import { countOrders, freshProduct, testPool } from '../support/db';

/**
 * The API's defences against too much work and against callers who do not
 * belong: load shedding, per-caller rate limiting, body limit, security headers,
 * CORS and what /readyz gives away. Temporal is a fake; the database is real,
 * because "nothing was written" is checked there.
 */

let pool: Pool;
let productId: string;
beforeAll(async () => {
  pool = testPool();
  productId = (await freshProduct(pool)).id;
});
afterAll(async () => {
  await pool.end();
});

const accepting: OrderWorkflows = {
  start: async () => ({ kind: 'STARTED', runId: 'run-1' }),
  cancel: async (orderId) => ({ orderId, status: 'PENDING' }),
  waitForClose: async () => undefined,
  ping: async () => undefined,
};

const app = (overrides: Partial<AppDeps> = {}) => testApp(pool, accepting, overrides);

const order = (customerId = 'c-harden') => ({ customerId, items: [{ productId, quantity: 1 }] });

/** A gateway whose starts wait until released, like a Temporal that answers slowly. */
function blockingWorkflows() {
  const waiting: Array<() => void> = [];
  const starts: OrderInput[] = [];
  const workflows: OrderWorkflows = {
    ...accepting,
    start: (input) => {
      starts.push(input);
      return new Promise<StartOutcome>((resolve) => waiting.push(() => resolve({ kind: 'STARTED', runId: 'run-1' })));
    },
  };
  return { workflows, starts, waiting, releaseAll: () => waiting.splice(0).forEach((release) => release()) };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('load shedding', () => {
  it('past MAX_ORDERS_IN_FLIGHT a POST /api/orders is answered 503 OVERLOADED at once, changing nothing; capacity comes back', async () => {
    const limit = 3;
    const fake = blockingWorkflows();
    const server = app({ workflows: fake.workflows, maxOrdersInFlight: limit }).listen(0);
    try {
      const admitted = Array.from({ length: limit }, (_, i) => request(server).post('/api/orders').send(order(`c-shed-${i}`)).then((r) => r));
      await until(() => fake.waiting.length === limit, `${limit} starts in flight`);
      const rowsBefore = await countOrders(pool);

      const startedAt = Date.now();
      const shed = await request(server).post('/api/orders').set('Idempotency-Key', 'shed-1').send(order('c-shed-x'));
      expect(Date.now() - startedAt).toBeLessThan(1_000); // at once, not after a start deadline
      expect(shed.status).toBe(503);
      expect(shed.body).toEqual({ error: { code: 'OVERLOADED', message: expect.any(String) } });
      expect(Number(shed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(fake.starts).toHaveLength(limit);
      expect(await countOrders(pool)).toBe(rowsBefore);

      // A retry of an existing order is an order write too, and is shed the same way.
      const retry = await request(server).post('/api/orders/00000000-0000-4000-8000-000000000000/retry');
      expect(retry.status).toBe(503);
      expect(retry.body.error.code).toBe('OVERLOADED');

      // Reads are not order writes: they still answer.
      expect((await request(server).get('/api/orders?limit=1')).status).toBe(200);

      fake.releaseAll();
      for (const res of await Promise.all(admitted)) expect(res.status).toBe(202);

      // `.then` sends it now (a supertest request is lazy) while the start is held below.
      const again = request(server).post('/api/orders').set('Idempotency-Key', 'shed-1').send(order('c-shed-x')).then((r) => r);
      await until(() => fake.waiting.length === 1, 'the next start');
      fake.releaseAll();
      expect((await again).status).toBe(202);

      const metrics = await request(server).get('/metrics');
      expect(metrics.text).toMatch(/orders_shed_total\{route="place"\} 1/);
      expect(metrics.text).toMatch(/orders_shed_total\{route="retry"\} 1/);
      expect(metrics.text).toMatch(/orders_in_flight 0/);
    } finally {
      fake.releaseAll();
      server.close();
    }
  });

  it('a handler that fails gives its slot back', async () => {
    // A start that fails for good is withdrawn and answered 503 TEMPORAL_START_REFUSED (start-fence.test.ts).
    const failing: OrderWorkflows = { ...accepting, start: async () => Promise.reject(new Error('boom')) };
    const server = app({ workflows: failing, maxOrdersInFlight: 1 });
    for (let i = 0; i < 3; i++) expect((await request(server).post('/api/orders').send(order())).status).toBe(503);
    expect((await request(server).post('/api/orders').send({})).status).toBe(400);
  });
});

describe('rate limiting per caller', () => {
  it('answers 429 RATE_LIMITED with Retry-After in the error envelope once a caller exceeds its budget', async () => {
    const server = app({ rateLimitPerMinute: 2 });
    expect((await request(server).get('/api/products')).status).toBe(200);
    const second = await request(server).get('/api/products');
    expect(second.status).toBe(200);
    expect(second.headers['ratelimit-policy']).toBe('2;w=60');
    const third = await request(server).post('/api/orders').send(order());
    expect(third.status).toBe(429);
    expect(third.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String) } });
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    // Probes are not limited: a load balancer must keep seeing the process.
    expect((await request(server).get('/healthz')).status).toBe(200);
    expect((await request(server).get('/metrics')).text).toMatch(/http_rate_limited_total 1/);
  });

  it('counts a valid API key as its own caller, and a made-up token as the IP it comes from', async () => {
    const server = app({ rateLimitPerMinute: 1, apiKeys: ['key-a', 'b=key-b'] });
    const as = (token: string) => request(server).get('/api/products').set('Authorization', `Bearer ${token}`);
    expect((await as('key-a')).status).toBe(200);
    expect((await as('key-a')).status).toBe(429);
    expect((await as('key-b')).status).toBe(200); // another key, another budget
    expect((await request(server).get('/api/products')).status).toBe(200); // the IP's own budget
    expect((await as('made-up-1')).status).toBe(429); // not a key: it is the IP again
    expect((await as('made-up-2')).status).toBe(429);
  });

  it('TRUST_PROXY: off (the default) a forged X-Forwarded-For changes nothing; behind a trusted proxy each client has its own budget', async () => {
    const from = (server: ReturnType<typeof app>, forwardedFor: string) =>
      request(server).get('/api/products').set('X-Forwarded-For', forwardedFor);
    const direct = app({ rateLimitPerMinute: 1 });
    expect((await from(direct, '203.0.113.1')).status).toBe(200);
    expect((await from(direct, '203.0.113.2')).status).toBe(429); // the same peer, whatever it claims

    const proxied = app({ rateLimitPerMinute: 1, trustProxy: ['loopback'] }); // supertest connects over loopback
    expect((await from(proxied, '203.0.113.1')).status).toBe(200);
    expect((await from(proxied, '203.0.113.1')).status).toBe(429);
    expect((await from(proxied, '203.0.113.2')).status).toBe(200);

    // One hop: only the entry our proxy appended counts, not what the client put before it.
    const oneHop = app({ rateLimitPerMinute: 1, trustProxy: 1 });
    expect((await from(oneHop, '198.51.100.7, 203.0.113.9')).status).toBe(200);
    expect((await from(oneHop, '198.51.100.8, 203.0.113.9')).status).toBe(429);
    expect((await from(oneHop, '198.51.100.7, 203.0.113.10')).status).toBe(200);
  });

  it('the default budget lets one caller place a minute of orders at 20/s (one small box\'s capacity) and still has a ceiling', async () => {
    // No rateLimitPerMinute: the configuration table's default, as api/main.ts gets it from lib/config.ts.
    // The window is fixed, so a minute's 1,200 orders sent back to back are counted as 20/s for 60 s would be.
    const server = app({ maxOrdersInFlight: 1_000 }).listen(0);
    try {
      const statuses = new Map<number, number>();
      let last: request.Response | undefined;
      for (let batch = 0; batch < 1_200 / 20; batch++) {
        const answers = await Promise.all(
          Array.from({ length: 20 }, () => request(server).post('/api/orders').send(order('c-shop-backend'))),
        );
        for (const res of answers) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        last = answers.at(-1);
      }
      expect(Object.fromEntries(statuses)).toEqual({ 202: 1_200 });
      // Still limited: a flood from that caller meets a ceiling of 100 requests a second.
      expect(last?.headers['ratelimit-policy']).toBe('6000;w=60');
      expect(last?.headers.ratelimit).toMatch(/remaining=4800\b/);
    } finally {
      server.close();
    }
  }, 120_000);

  it('0 turns it off', async () => {
    const server = app({ rateLimitPerMinute: 0 });
    for (let i = 0; i < 5; i++) {
      const res = await request(server).get('/api/products');
      expect(res.status).toBe(200);
      expect(res.headers.ratelimit).toBeUndefined();
    }
  });
});

describe('hardening', () => {
  it('a body over 64 kB is 413 PAYLOAD_TOO_LARGE, and nothing is written', async () => {
    const before = await countOrders(pool);
    const res = await request(app())
      .post('/api/orders')
      .send({ ...order(), padding: 'x'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: expect.any(String) } });
    expect(await countOrders(pool)).toBe(before);
  });

  it('sends security headers on API answers and errors alike', async () => {
    for (const res of [await request(app()).get('/api/products'), await request(app()).get('/api/nothing')]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['strict-transport-security']).toBeDefined();
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    // The docs page's inline script is allowed by its hash, not by 'unsafe-inline'.
    const docs = await request(app()).get('/docs');
    expect(docs.headers['content-security-policy']).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(docs.headers['content-security-policy']).not.toContain('unsafe-inline\';script');
  });

  it('open (no API_KEYS), only loopback host names are served: a page whose name was rebound to 127.0.0.1 is refused', async () => {
    const open = app();
    for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000', 'localhost', 'LOCALHOST:3000']) {
      const res = await request(open).get('/api/products').set('Host', host);
      expect(res.status, host).toBe(200);
    }
    for (const host of ['attacker.example:3000', 'attacker.example', '127.0.0.1.attacker.example:3000', 'localhost.attacker.example']) {
      const res = await request(open).post('/api/orders').set('Host', host).send(order('c-rebound'));
      expect(res.status, host).toBe(403);
      expect(res.body.error.code).toBe('HOST_NOT_ALLOWED');
    }
    expect((await pool.query("SELECT 1 FROM orders WHERE customer_id = 'c-rebound'")).rowCount).toBe(0);
    const page = await request(open).get('/').set('Host', 'attacker.example:3000');
    expect(page.status).toBe(403);
    // With API keys (or ALLOW_OPEN_API behind a gateway) the API is reached by other names.
    const keyed = await request(app({ apiKeys: ['shop=k-1'] })).get('/healthz').set('Host', 'orders.internal:3000');
    expect(keyed.status).toBe(200);
    const gateway = await request(app({ loopbackHostsOnly: false })).get('/healthz').set('Host', 'orders.internal:3000');
    expect(gateway.status).toBe(200);
  });

  it('CORS is closed by default: no Access-Control-Allow-Origin, and preflights are not answered', async () => {
    const res = await request(app()).get('/api/products').set('Origin', 'https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await request(app())
      .options('/api/orders')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('CORS_ORIGINS opens it to the listed origins only', async () => {
    const server = app({ corsOrigins: ['https://shop.example'] });
    const listed = await request(server).get('/api/products').set('Origin', 'https://shop.example');
    expect(listed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(listed.headers['access-control-expose-headers']).toContain('Location');
    expect(listed.headers.vary).toContain('Origin');
    const preflight = await request(server)
      .options('/api/orders')
      .set('Origin', 'https://shop.example')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type, idempotency-key');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Idempotency-Key/);
    const other = await request(server).get('/api/products').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('/readyz says which dependency is down, not why', async () => {
    const secret = 'connect ECONNREFUSED 10.1.2.3:7233 user=orders password=hunter2';
    const down: OrderWorkflows = { ...accepting, ping: async () => Promise.reject(new Error(secret)) };
    const res = await request(app({ workflows: down })).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not ready', checks: { postgres: 'ok', temporal: 'unavailable' } });
    expect(res.text).not.toMatch(/ECONNREFUSED|10\.1\.2\.3|hunter2/);
  });

  it('an unexpected error answers a bare 500 without its message or stack', async () => {
    const failing: OrderWorkflows = { ...accepting, cancel: async () => Promise.reject(new Error('pg at 10.1.2.3 said no')) };
    const server = app({ workflows: failing });
    const placed = await request(server).post('/api/orders').send(order());
    const res = await request(server).post(`/api/orders/${placed.body.orderId}/cancel`);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error.' } });
    expect(res.text).not.toMatch(/10\.1\.2\.3|\.ts:\d+/);
  });
});
