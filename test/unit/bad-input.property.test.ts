import type { Server } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import request, { type Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingWorkflows, testApp } from '../support/app';
import { createOrderBody, productBody } from '../../api/schemas';
import { upsertProduct, type Product } from '../../store/catalogue';
import type { Pool } from '../../lib/db/pool';
import { countOrders, freshProduct, testPool } from '../support/db';

/**
 * Property-based bad input over every API route: whatever arrives (body, headers,
 * path segments, query), an answer that is not a success is a JSON 4xx in the
 * error envelope, never a 5xx; a rejected POST /api/orders stores no row and
 * starts no workflow; and valid orders keep being accepted, one start each.
 * Temporal is a recording fake (as in validation.test.ts); PostgreSQL is real.
 * Every property has a fixed seed and a bounded number of runs, so CI is reproducible.
 */

const RUNS = 150;

let pool: Pool;
let server: Server;
const { workflows, started, cancelled } = recordingWorkflows();

/** Order ids the API accepted during this file, so path properties also hit existing orders. */
const knownOrderIds: string[] = [];
/** Products for valid-by-construction orders, their ids drawn from the id rule itself. */
let catalogue: Product[] = [];

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const idArb = fc.stringMatching(ID_RE);

beforeAll(async () => {
  pool = testPool();
  server = testApp(pool, workflows, {
    rateLimitPerMinute: 0, // thousands of requests from one caller: the limiter is not under test here
    maxOrdersInFlight: 1_000,
  }).listen(0);
  // 60 distinct ids following the id rule, with a fixed seed; a prefix keeps them apart from other files' products.
  const ids = fc.sample(fc.uniqueArray(idArb.map((s) => `pbt${s}`.slice(0, 64)), { minLength: 60, maxLength: 60 }), { seed: 7, numRuns: 1 })[0]!;
  catalogue = ids.map((id, i) => ({ id, name: `PBT product ${i}`, priceCents: 100 + i, stock: 1_000_000 }));
  for (const p of catalogue) await upsertProduct(pool, p);
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await pool.end();
});

/** Every non-success answer: a 4xx whose JSON body is exactly `{"error":{"code","message"[,"details"]}}`. */
function expectJsonClientError(res: Response, what: string): void {
  const context = `${what} -> ${res.status} ${res.text?.slice(0, 300)}`;
  expect(res.status, context).toBeGreaterThanOrEqual(400);
  expect(res.status, context).toBeLessThan(500);
  expect(res.headers['content-type'], context).toMatch(/^application\/json/);
  const body: unknown = res.body;
  expect(body, context).toEqual({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).every((k) => ['code', 'message', 'details'].includes(k)), context).toBe(true);
}

function expectSuccessOr4xx(res: Response, successes: readonly number[], what: string): boolean {
  if (successes.includes(res.status)) return true;
  expectJsonClientError(res, what);
  return false;
}

// ---- arbitraries ---------------------------------------------------------------

/** Header values Node will send: strings (non-ASCII as raw UTF-8 bytes), without control characters. */
const headerValue = (maxLength: number) =>
  fc
    .oneof(
      fc.string({ maxLength }),
      fc.string({ unit: 'grapheme', maxLength }),
      fc.string({ unit: 'binary', maxLength }),
      fc.constantFrom('', ' ', 'k'.repeat(256), 'k'.repeat(5_000), 'clé-ümlaut', '键', '😀', 'a b', '\t'),
    )
    .map((s) => Buffer.from(s, 'utf8').toString('latin1').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ''));

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=UTF-16',
  'application/json; charset=latin1',
  'application/json; charset=utf-42',
  'application/vnd.api+json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'multipart/form-data; boundary=x',
  '*/*',
  'garbage',
  '',
);

/** Number-ish values that are not the numbers a schema wants. */
const numberish = fc.oneof(
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '-1', '0', '1e309', '-1e309', '9007199254740993', '0x10', '1_000', '', ' 1', '1.0', '١'),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -2_000_000_000, max: -1 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, -0, 1.5, 1001, 0, 2 ** 53 + 2),
);

const deepNest = fc.integer({ min: 10, max: 3_000 }).map((depth) => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { v };
  return v;
});

const wrongValue = fc.oneof(
  numberish,
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.constantFrom(null, true, false, [], {}, '', ' ', '..', '../etc', 'a/b', 'x'.repeat(65), 'x'.repeat(70_000)),
  deepNest,
);

const extraKeys = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 });

/** A request body as raw text: arbitrary JSON, mutated valid shapes, and text that is not JSON at all. */
function bodyArb(valid: () => Record<string, unknown>, fields: readonly string[]) {
  const mutated = fc
    .record({ field: fc.constantFrom(...fields), value: wrongValue, drop: fc.boolean(), extra: fc.option(extraKeys, { nil: undefined }) })
    .map(({ field, value, drop, extra }) => {
      const body: Record<string, unknown> = { ...valid(), ...(extra ?? {}) };
      if (drop) delete body[field];
      else body[field] = value;
      return JSON.stringify(body);
    });
  const json = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.anything({ maxDepth: 4, withNullPrototype: false, withObjectString: false }).filter(isJson)).map((v) => JSON.stringify(v) ?? 'null');
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constantFrom('', '{', '{"customerId":', '[1,2', '{"a":1e999}', 'null', '"x"', '42', 'true', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}'),
  );
  return fc.oneof({ weight: 3, arbitrary: mutated }, { weight: 2, arbitrary: json }, { weight: 1, arbitrary: text }, { weight: 1, arbitrary: deepNest.map((v) => JSON.stringify(v)) });
}

/** True when `v` survives a JSON round trip unchanged (no undefined, functions, NaN, -0, ...). */
function isJson(v: unknown): boolean {
  try {
    const text = JSON.stringify(v);
    return text !== undefined && isDeepStrictEqual(JSON.parse(text), v);
  } catch {
    return false;
  }
}

/** One path segment, already in URL form: encoded arbitrary strings and raw tricky forms. */
const pathSegment = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  fc.uuid().map(String),
  fc.constantFrom(
    '..', '.', '%2F', '%2f..%2f', 'a%2Fb', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF',
    encodeURIComponent('ünïcødé'), encodeURIComponent('😀'), 'a:b', 'x'.repeat(70), '00000000-0000-4000-8000-000000000000',
    '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF', '%20', '+', ';', 'a;b=c', '~', '*',
  ),
);

/** A raw query string (without "?"): encoded arbitrary pairs and raw tricky forms. */
const queryString = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('status', 'customerId', 'limit', 'status[]', 'limit[a]', '__proto__', ''), fc.string({ maxLength: 10 })),
        fc.oneof(wrongValue.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')), fc.constantFrom('PENDING', 'COMPLETED', 'FAILED', '50', '1', '200', '201')),
      ),
      { maxLength: 6 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v.slice(0, 2_000))}`).join('&')),
  fc.constantFrom('%zz', 'limit=%zz', 'limit=1e999', '&&&', '=', '==', 'limit', 'limit=50&limit=60', 'status=PENDING&status=FAILED', 'limit=-0', 'limit=0x10', 'limit=%00', 'a[b][c][d]=1', 'status=%E0%A4%A'),
);

// ---- helpers -------------------------------------------------------------------

async function validOrderFreshProduct(): Promise<void> {
  const product = await freshProduct(pool);
  const before = { rows: await countOrders(pool), starts: started.length };
  const res = await request(server).post('/api/orders').send({ customerId: 'c-pbt', items: [{ productId: product.id, quantity: 2 }] });
  expect(res.status, res.text).toBe(202);
  expect(started.length - before.starts).toBe(1);
  expect(started.at(-1)).toMatchObject({ orderId: res.body.orderId, amountCents: 2 * product.priceCents, items: [{ productId: product.id, quantity: 2 }] });
  expect(await countOrders(pool)).toBe(before.rows + 1);
  knownOrderIds.push(res.body.orderId as string);
}

const isValidIdempotencyKey = (k: string | undefined) => k === undefined || /^[\x21-\x7e]{1,255}$/.test(k);

// ---- properties ----------------------------------------------------------------

describe('bad input, property-based: every non-success is a JSON 4xx, and nothing is stored', () => {
  it('POST /api/orders: arbitrary bodies, Idempotency-Keys and Content-Types; valid orders keep succeeding in between', async () => {
    const [knownProduct] = catalogue;
    const valid = () => ({ customerId: 'c-1', items: [{ productId: knownProduct!.id, quantity: 1 }], paymentMethod: 'pm_card_visa' });
    await fc.assert(
      fc.asyncProperty(
        bodyArb(valid, ['customerId', 'items', 'paymentMethod']),
        fc.option(headerValue(300), { nil: undefined }),
        fc.option(contentType, { freq: 4, nil: undefined }),
        fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip'), { freq: 6, nil: undefined }),
        fc.boolean(),
        async (body, key, type, encoding, interleave) => {
          const rowsBefore = await countOrders(pool);
          const startsBefore = started.length;
          let req = request(server).post('/api/orders').set('Content-Type', type ?? 'application/json');
          if (key !== undefined) req = req.set('Idempotency-Key', key);
          if (encoding !== undefined) req = req.set('Content-Encoding', encoding);
          const res = await req.send(body);
          const what = `POST /api/orders key=${JSON.stringify(key)?.slice(0, 60)} type=${type} encoding=${encoding} body=${body.slice(0, 200)}`;

          // Only a body the schema accepts, sent as JSON with an acceptable key, may be accepted.
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            parsed = undefined;
          }
          const mayBeAccepted =
            (type === undefined || /^application\/json(; charset=utf-8)?$/i.test(type)) &&
            isValidIdempotencyKey(key?.trim()) &&
            (encoding === undefined || encoding === 'identity') &&
            createOrderBody.safeParse(parsed).success;
          if (expectSuccessOr4xx(res, mayBeAccepted ? [202] : [], what)) {
            if (res.headers['idempotent-replayed'] !== 'true') expect(started.length - startsBefore, what).toBe(1);
            knownOrderIds.push(res.body.orderId as string);
          } else {
            expect(started.length, what).toBe(startsBefore);
            expect(await countOrders(pool), what).toBe(rowsBefore);
          }
          if (interleave) await validOrderFreshProduct();
        },
      ),
      { numRuns: RUNS, seed: 20_240_601 },
    );
  });

  it('PUT /api/products/:id: arbitrary ids, bodies and Content-Types', async () => {
    const valid = () => ({ name: 'Fuzzed product', priceCents: 100, stock: 5 });
    await fc.assert(
      fc.asyncProperty(pathSegment, bodyArb(valid, ['name', 'priceCents', 'stock']), fc.option(contentType, { freq: 4, nil: undefined }), async (id, body, type) => {
        const res = await request(server).put(`/api/products/${id}`).set('Content-Type', type ?? 'application/json').send(body);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        const mayBeAccepted = productBody.safeParse(parsed).success;
        expectSuccessOr4xx(res, mayBeAccepted ? [200, 201] : [], `PUT /api/products/${id} type=${type} body=${body.slice(0, 200)}`);
      }),
      { numRuns: RUNS, seed: 20_240_602 },
    );
  });

  it('GET /api/orders: arbitrary query strings', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, async (query) => {
        const res = await request(server).get(`/api/orders?${query}`);
        if (expectSuccessOr4xx(res, [200], `GET /api/orders?${query}`)) expect(Array.isArray(res.body.orders)).toBe(true);
      }),
      { numRuns: RUNS, seed: 20_240_603 },
    );
  });

  it('GET /api/orders/:id, POST …/cancel and …/retry: arbitrary path segments, unknown and existing orders', async () => {
    if (knownOrderIds.length === 0) await validOrderFreshProduct();
    const segment = fc.oneof({ weight: 4, arbitrary: pathSegment }, { weight: 1, arbitrary: fc.constantFrom(...knownOrderIds) });
    await fc.assert(
      fc.asyncProperty(segment, fc.option(queryString, { nil: undefined }), async (id, query) => {
        const suffix = query === undefined ? '' : `?${query}`;
        const rowsBefore = await countOrders(pool);
        const startsBefore = started.length;
        const got = await request(server).get(`/api/orders/${id}${suffix}`);
        expectSuccessOr4xx(got, [200], `GET /api/orders/${id}${suffix}`);
        const cancel = await request(server).post(`/api/orders/${id}/cancel${suffix}`);
        expectSuccessOr4xx(cancel, [202], `POST /api/orders/${id}/cancel${suffix}`);
        // Orders here never fail with PAYMENT_UNAVAILABLE, so no retry may succeed or start anything.
        const retry = await request(server).post(`/api/orders/${id}/retry${suffix}`);
        expectJsonClientError(retry, `POST /api/orders/${id}/retry${suffix}`);
        expect(started.length).toBe(startsBefore);
        expect(await countOrders(pool)).toBe(rowsBefore);
      }),
      { numRuns: RUNS, seed: 20_240_604 },
    );
  });

  it('valid-by-construction orders always get 202 and exactly one start each', async () => {
    const byId = new Map(catalogue.map((p) => [p.id, p]));
    const order = fc.record(
      {
        customerId: idArb,
        items: fc.uniqueArray(
          fc.record({ productId: fc.constantFrom(...catalogue.map((p) => p.id)), quantity: fc.integer({ min: 1, max: 1000 }) }),
          { minLength: 1, maxLength: 50, selector: (i) => i.productId },
        ),
        paymentMethod: fc.stringMatching(/^pm_[A-Za-z0-9_]{1,60}$/),
      },
      { requiredKeys: ['customerId', 'items'] },
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(order, fc.option(fc.stringMatching(/^[\x21-\x7e]{1,200}$/), { nil: undefined }), async (body, key) => {
        expect(createOrderBody.safeParse(body).success).toBe(true); // the generator follows the schema's rules
        const rowsBefore = await countOrders(pool);
        const startsBefore = started.length;
        let req = request(server).post('/api/orders');
        // A fresh suffix keeps keys unique across runs (and shrinks), so no answer is a replay.
        if (key !== undefined) req = req.set('Idempotency-Key', `${key.slice(0, 200)}#${process.pid}.${Date.now()}.${n++}`);
        const res = await req.send(body);
        expect(res.status, res.text).toBe(202);
        expect(res.headers['idempotent-replayed']).toBeUndefined();
        expect(started.length - startsBefore).toBe(1);
        const input = started.at(-1)!;
        expect(input.orderId).toBe(res.body.orderId);
        expect(input.customerId).toBe(body.customerId);
        expect(input.paymentMethod).toBe(body.paymentMethod ?? 'pm_card_visa');
        expect(input.amountCents).toBe(body.items.reduce((sum, i) => sum + i.quantity * byId.get(i.productId)!.priceCents, 0));
        expect(await countOrders(pool)).toBe(rowsBefore + 1);
      }),
      { numRuns: 100, seed: 20_240_605 },
    );
  });

  it('with API_KEYS: arbitrary Authorization headers on every order route and the catalogue write are 401 (403 for a non-admin key), and change nothing', async () => {
    const KEY = 'shop-key-0123456789abcdef';
    const keyed = testApp(pool, workflows, { apiKeys: [`shop=${KEY}`], rateLimitPerMinute: 0 }).listen(0);
    // Near misses of the real key as well as noise: a prefix, a suffix, another case, the name instead of the key.
    const authorization = fc.oneof(
      headerValue(300),
      headerValue(80).map((t) => `Bearer ${t}`),
      fc.constantFrom(`Bearer ${KEY.slice(0, -1)}`, `Bearer ${KEY}x`, `Bearer ${KEY.toUpperCase()}`, 'Bearer shop', `Basic ${KEY}`, `Bearer  ${KEY} x`, KEY),
    );
    const known = knownOrderIds[0] ?? '00000000-0000-4000-8000-000000000000';
    const routes = [
      ['post', '/api/orders'],
      ['get', '/api/orders'],
      ['get', `/api/orders/${known}`],
      ['post', `/api/orders/${known}/cancel`],
      ['post', `/api/orders/${known}/retry`],
      ['put', '/api/products/pbt-auth'],
    ] as const;
    try {
      await fc.assert(
        fc.asyncProperty(authorization, fc.constantFrom(...routes), async (auth, [method, path]) => {
          const rowsBefore = await countOrders(pool);
          const startsBefore = started.length;
          const cancelsBefore = cancelled.length;
          const body = { customerId: 'c-pbt', items: [{ productId: catalogue[0]!.id, quantity: 1 }] };
          const res = await request(keyed)[method](path).set('Authorization', auth).send(method === 'get' ? undefined : body);
          const what = `${method.toUpperCase()} ${path} Authorization=${JSON.stringify(auth).slice(0, 80)}`;
          expectJsonClientError(res, what);
          expect(res.status, what).toBe(401);
          expect(res.headers['www-authenticate'], what).toMatch(/^Bearer realm="order-saga"/);
          expect(started.length, what).toBe(startsBefore);
          expect(cancelled.length, what).toBe(cancelsBefore);
          expect(await countOrders(pool), what).toBe(rowsBefore);
        }),
        { numRuns: RUNS, seed: 20_240_606 },
      );
      // The real key passes the gate, and a non-admin key is stopped at the catalogue write.
      expect((await request(keyed).get('/api/orders').set('Authorization', `Bearer ${KEY}`)).status).toBe(200);
      expect((await request(keyed).put('/api/products/pbt-auth').set('Authorization', `bearer ${KEY}`).send({ name: 'x', priceCents: 1, stock: 1 })).status).toBe(403);
    } finally {
      await new Promise<void>((resolve) => keyed.close(() => resolve()));
    }
  });
});
