import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities, type OrderActivities } from '../../activities';
import { OrderStateConflictError, getOrder, insertNewOrder } from '../../store/orders';
import { testApp } from '../support/app';
import type { OrderWorkflows } from '../../api/orders/workflow-gateway';
import { createPool, type Pool } from '../../lib/db/pool';
import { ErrorType, type OrderInput, type OrderRef } from '../../workflows/types';
import { freshProduct, stockOf } from '../support/db';

/**
 * On-hand and reserved stock kept apart: a PUT sets what is on the shelf and
 * never overwrites what open reservations hold, releases give back exactly what
 * was reserved, and completing an order takes its quantities off the shelf once.
 */

let pool: Pool;
let acts: OrderActivities;
const env = new MockActivityEnvironment();
const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => env.run(fn, ...args);
const noService = { latencyMs: 0, failureRate: 0 };
// The race test only races if several transactions can be open at once.
const POOL_SIZE = 12;

const workflows: OrderWorkflows = {
  start: async () => {
    throw new Error('not expected');
  },
  cancel: async () => {
    throw new Error('not expected');
  },
  waitForClose: async () => undefined,
  ping: async () => undefined,
};

const app = () => testApp(pool, workflows);

beforeAll(() => {
  pool = createPool(inject('testEnv').databaseUrl, POOL_SIZE);
  acts = createActivities(pool, { inventory: noService, payment: noService, notify: noService });
});
afterAll(async () => {
  await pool.end();
});

function orderInput(productId: string, quantity: number): OrderInput {
  return {
    orderId: randomUUID(),
    customerId: 'c-stock',
    items: [{ productId, quantity, priceCents: 100 }],
    amountCents: quantity * 100,
    paymentMethod: 'pm_card_visa',
    attempt: 1,
    idempotencyKey: null,
    requestHash: null,
    paymentBudgetMs: 60_000,
  };
}

async function newOrder(productId: string, quantity: number): Promise<OrderRef> {
  const input = orderInput(productId, quantity);
  await run(acts.recordOrder, input);
  return { orderId: input.orderId, attempt: 1 };
}

interface StockState {
  onHand: number;
  reserved: number;
  stock: number;
}

async function stateOf(productId: string): Promise<StockState> {
  const res = await pool.query<StockState>(
    `SELECT on_hand AS "onHand", reserved, stock FROM products WHERE id = $1`,
    [productId],
  );
  return res.rows[0]!;
}

/** What the reservation rows say is held: the figure products.reserved must equal. */
async function openReservations(productId: string): Promise<number> {
  const res = await pool.query<{ n: number }>(
    `SELECT coalesce(sum(i.quantity), 0)::int AS n
     FROM inventory_reservations r JOIN order_items i ON i.order_id = r.order_id
     WHERE r.status = 'RESERVED' AND i.product_id = $1`,
    [productId],
  );
  return res.rows[0]!.n;
}

async function reservationStatus(ref: OrderRef): Promise<string | undefined> {
  const res = await pool.query<{ status: string }>(
    `SELECT status FROM inventory_reservations WHERE order_id = $1 AND attempt = $2`,
    [ref.orderId, ref.attempt],
  );
  return res.rows[0]?.status;
}

const put = (id: string, stock: number, name = 'Test product', priceCents = 1250) =>
  request(app()).put(`/api/products/${id}`).send({ name, priceCents, stock });

function expectConsistent(s: StockState): void {
  expect(s.stock).toBe(s.onHand - s.reserved);
  expect(s.reserved).toBeGreaterThanOrEqual(0);
  expect(s.stock).toBeGreaterThanOrEqual(0);
  expect(s.stock).toBeLessThanOrEqual(s.onHand);
}

describe('on-hand and reserved stock', () => {
  it('a PUT while a reservation is open, then its release, leaves what is on the shelf sellable, not more', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 3);
    await run(acts.reserveInventory, ref);
    expect(await stockOf(pool, p.id)).toBe(7);

    const res = await put(p.id, 10); // a stock count: 10 are on the shelf, 3 of them promised
    expect(res.status).toBe(200);
    await run(acts.releaseInventory, ref);
    expect(await stockOf(pool, p.id)).toBe(10);

    expect(res.body).toEqual({ id: p.id, name: 'Test product', priceCents: 1250, stock: 7 });
    expect((await request(app()).get(`/api/products/${p.id}`)).body.stock).toBe(10);
  });

  it('completeOrder takes the reserved quantities off the shelf exactly once', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 4);
    await run(acts.reserveInventory, ref);
    await run(acts.chargePayment, ref);
    expect(await stateOf(p.id)).toEqual({ onHand: 10, reserved: 4, stock: 6 });

    await run(acts.completeOrder, ref);
    await run(acts.completeOrder, ref);
    expect(await stateOf(p.id)).toEqual({ onHand: 6, reserved: 0, stock: 6 });
    expect(await reservationStatus(ref)).toBe('COMMITTED');
    expect((await getOrder(pool, ref.orderId))!.status).toBe('COMPLETED');

    // A late compensation cannot put sold goods back on the shelf.
    await run(acts.releaseInventory, ref);
    expect(await stateOf(p.id)).toEqual({ onHand: 6, reserved: 0, stock: 6 });
    expect(await reservationStatus(ref)).toBe('COMMITTED');
  });

  it('concurrent completeOrder calls for one order consume it once', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 4);
    await run(acts.reserveInventory, ref);
    await run(acts.chargePayment, ref);
    await Promise.all([run(acts.completeOrder, ref), run(acts.completeOrder, ref), run(acts.completeOrder, ref)]);
    expect(await stateOf(p.id)).toEqual({ onHand: 6, reserved: 0, stock: 6 });
  });

  it('completeOrder of an order that is not PAID consumes nothing', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 4);
    await run(acts.reserveInventory, ref);
    // Still RESERVED: the transition refuses, loudly, and the transaction takes nothing.
    await expect(run(acts.completeOrder, ref)).rejects.toThrow(/expected PAID to move to COMPLETED/);
    expect(await stateOf(p.id)).toEqual({ onHand: 10, reserved: 4, stock: 6 });
    expect(await reservationStatus(ref)).toBe('RESERVED');
  });

  it('completeOrder of a PAID order whose reservation was released throws, and the order stays PAID with its stock', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 4);
    await run(acts.reserveInventory, ref);
    await run(acts.chargePayment, ref);
    await run(acts.releaseInventory, ref); // a drift: the database gave the goods back, the workflow goes on
    const before = await stateOf(p.id);

    for (let i = 0; i < 2; i++) {
      const err = await run(acts.completeOrder, ref).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(OrderStateConflictError);
      expect((err as Error).message).toMatch(/reservation is RELEASED/);
    }
    expect((await getOrder(pool, ref.orderId))!.status).toBe('PAID');
    expect(await stateOf(p.id)).toEqual(before);
    expect(await reservationStatus(ref)).toBe('RELEASED');
  });

  it('completeOrder of a PAID order with no reservation at all throws and completes nothing', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 4);
    await pool.query(`UPDATE orders SET status = 'PAID' WHERE id = $1`, [ref.orderId]);
    await expect(run(acts.completeOrder, ref)).rejects.toThrow(/reservation is missing/);
    expect((await getOrder(pool, ref.orderId))!.status).toBe('PAID');
    expect(await stateOf(p.id)).toEqual({ onHand: 10, reserved: 0, stock: 10 });
  });

  it('PUT below what is reserved answers 409 STOCK_BELOW_RESERVED and changes nothing', async () => {
    const p = await freshProduct(pool, { stock: 10 });
    const ref = await newOrder(p.id, 6);
    await run(acts.reserveInventory, ref);

    const res = await put(p.id, 5, 'Renamed', 999);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'STOCK_BELOW_RESERVED', details: { reserved: 6 } });
    expect(await stateOf(p.id)).toEqual({ onHand: 10, reserved: 6, stock: 4 });
    expect((await request(app()).get(`/api/products/${p.id}`)).body).toEqual({
      id: p.id,
      name: 'Test product',
      priceCents: 1250,
      stock: 4,
    });

    const exact = await put(p.id, 6);
    expect(exact.status).toBe(200);
    expect(exact.body.stock).toBe(0);
    expect(await stateOf(p.id)).toEqual({ onHand: 6, reserved: 6, stock: 0 });
  });

  it('PUT of a new product answers 201 with everything available', async () => {
    const id = `sku-${randomUUID().slice(0, 8)}`;
    const res = await put(id, 12);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id, name: 'Test product', priceCents: 1250, stock: 12 });
    expect(await stateOf(id)).toEqual({ onHand: 12, reserved: 0, stock: 12 });
    const list = await request(app()).get('/api/products');
    expect(list.body.products).toContainEqual({ id, name: 'Test product', priceCents: 1250, stock: 12 });
  });

  it('PUTs racing reservations, releases and completions keep on-hand, reserved and available consistent', async () => {
    const p = await freshProduct(pool, { stock: 30 });
    // Held throughout, so the final count below always has an open reservation to release.
    await run(acts.reserveInventory, await newOrder(p.id, 2));
    const refs = await Promise.all(Array.from({ length: 40 }, (_, i) => newOrder(p.id, (i % 3) + 1)));
    const outcome = new Map<string, 'out-of-stock' | 'released' | 'completed' | 'open'>();

    const orderTasks = refs.map(async (ref, i) => {
      // Every fifth order's compensation races its own reservation (the tombstone path).
      if (i % 5 === 4) {
        await Promise.all([run(acts.releaseInventory, ref), run(acts.reserveInventory, ref).catch(() => undefined)]);
        await run(acts.releaseInventory, ref);
        outcome.set(ref.orderId, 'released');
        return;
      }
      try {
        await run(acts.reserveInventory, ref);
      } catch (err) {
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).type).toBe(ErrorType.OutOfStock);
        outcome.set(ref.orderId, 'out-of-stock');
        return;
      }
      if (i % 3 === 0) {
        await run(acts.releaseInventory, ref);
        outcome.set(ref.orderId, 'released');
      } else if (i % 3 === 1) {
        await run(acts.chargePayment, ref);
        await Promise.all([run(acts.completeOrder, ref), run(acts.completeOrder, ref)]);
        outcome.set(ref.orderId, 'completed');
      } else {
        outcome.set(ref.orderId, 'open');
      }
    });

    const putTasks = Array.from({ length: 15 }, async (_, i) => {
      const onHand = [40, 5, 25, 0, 35][i % 5]!;
      const res = await put(p.id, onHand);
      if (res.status === 409) {
        expect(res.body.error.code).toBe('STOCK_BELOW_RESERVED');
        expect(res.body.error.details.reserved).toBeGreaterThan(onHand);
      } else {
        expect(res.status).toBe(200);
        expect(res.body.stock).toBeGreaterThanOrEqual(0);
        expect(res.body.stock).toBeLessThanOrEqual(onHand);
      }
    });

    let running = true;
    const samples: StockState[] = [];
    const sampler = (async () => {
      while (running) {
        samples.push(await stateOf(p.id));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    try {
      await Promise.all([...orderTasks, ...putTasks]);
    } finally {
      running = false;
      await sampler;
    }

    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expectConsistent(s);
    const after = await stateOf(p.id);
    expectConsistent(after);
    expect(after.reserved).toBe(await openReservations(p.id));
    // Each order's reservation row says what happened to it; a refused one left none.
    expect(outcome.size).toBe(refs.length);
    const rowStatus = { 'out-of-stock': undefined, released: 'RELEASED', completed: 'COMMITTED', open: 'RESERVED' };
    for (const ref of refs) expect(await reservationStatus(ref)).toBe(rowStatus[outcome.get(ref.orderId)!]);

    // After a final count, releasing the orders still open makes exactly the
    // counted quantity sellable.
    expect(after.reserved).toBeGreaterThan(0);
    const count = await put(p.id, after.reserved + 5);
    expect(count.status).toBe(200);
    expect(count.body.stock).toBe(5);
    const leftovers = await pool.query<{ order_id: string; attempt: number }>(
      `SELECT r.order_id, r.attempt FROM inventory_reservations r JOIN order_items i ON i.order_id = r.order_id
       WHERE r.status = 'RESERVED' AND i.product_id = $1`,
      [p.id],
    );
    await Promise.all(leftovers.rows.map((r) => run(acts.releaseInventory, { orderId: r.order_id, attempt: r.attempt })));
    expect(await stateOf(p.id)).toEqual({ onHand: after.reserved + 5, reserved: 0, stock: after.reserved + 5 });
  });
});

/**
 * A pool whose transactions stop just before their COMMIT until `release()`,
 * keeping every lock they took: a worker whose transaction stalls (a pause, a
 * slow network) as everybody else sees it.
 */
function stallingPool() {
  const stalling = createPool(inject('testEnv').databaseUrl, 3);
  let holding = true;
  let letGo!: () => void;
  const gate = new Promise<void>((resolve) => (letGo = resolve));
  let stalled!: () => void;
  const reached = new Promise<void>((resolve) => (stalled = resolve));
  stalling.on('connect', (client) => {
    // pg's query has a dozen overloads; this wrapper only passes the arguments through.
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    Object.assign(client, {
      query: (...args: unknown[]) => {
        if (args[0] !== 'COMMIT' || !holding) return query(...args);
        stalled();
        return gate.then(() => query(...args));
      },
    });
  });
  return {
    acts: createActivities(stalling, { inventory: noService, payment: noService, notify: noService }),
    /** Resolves once a transaction is waiting at its COMMIT, its locks held. */
    reached,
    release: () => {
      holding = false;
      letGo();
    },
    end: () => stalling.end(),
  };
}

/**
 * The API's insert of a new order for `productId`, as POST /api/orders runs it,
 * cut off by the server after `limitMs`: its foreign key check takes FOR KEY
 * SHARE on the product row. Answers how long it took.
 */
async function placeOrderWithin(limitMs: number, productId: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(`SET statement_timeout = ${Number(limitMs)}`);
    const startedAt = Date.now();
    expect(await insertNewOrder(client, orderInput(productId, 1), null, randomUUID())).toBe(true);
    return Date.now() - startedAt;
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
    client.release();
  }
}

describe('stock writers and new orders for the same product', () => {
  interface Writer {
    name: string;
    /** Brings the order to where this writer acts on it. */
    prepare: (ref: OrderRef) => Promise<void>;
    step: (a: OrderActivities) => (ref: OrderRef) => Promise<void>;
    after: { onHand: number; reserved: number };
  }
  const writers: Writer[] = [
    { name: 'reserve', prepare: async () => undefined, step: (a) => a.reserveInventory, after: { onHand: 10, reserved: 3 } },
    {
      name: 'release',
      prepare: async (ref) => {
        await run(acts.reserveInventory, ref);
      },
      step: (a) => a.releaseInventory,
      after: { onHand: 10, reserved: 0 },
    },
    {
      name: 'completion',
      prepare: async (ref) => {
        await run(acts.reserveInventory, ref);
        await run(acts.chargePayment, ref);
      },
      step: (a) => a.completeOrder,
      after: { onHand: 7, reserved: 0 },
    },
  ];

  for (const writer of writers) {
    it(`a ${writer.name} stalled before its COMMIT does not hold up an order being placed for that product`, async () => {
      const p = await freshProduct(pool, { stock: 10 });
      const ref = await newOrder(p.id, 3);
      await writer.prepare(ref);
      const stalled = stallingPool();
      try {
        const writing = run(writer.step(stalled.acts), ref);
        await stalled.reached; // its product row lock and its UPDATE of products are held from here
        // The API's statement timeout is 10 s; a lock wait would hit this one first.
        const tookMs = await placeOrderWithin(2_000, p.id);
        expect(tookMs).toBeLessThan(1_000);
        stalled.release();
        await writing;
      } finally {
        stalled.release();
        await stalled.end();
      }
      expect(await stateOf(p.id)).toMatchObject(writer.after);
    });
  }

  it('two stock writers of the same product still wait for each other', async () => {
    const p = await freshProduct(pool, { stock: 4 });
    const first = await newOrder(p.id, 3);
    const second = await newOrder(p.id, 3);
    const stalled = stallingPool();
    try {
      const firstReserve = run(stalled.acts.reserveInventory, first);
      await stalled.reached;
      let secondDone = false;
      const secondReserve = run(acts.reserveInventory, second).finally(() => (secondDone = true));
      secondReserve.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      expect(secondDone).toBe(false); // waiting on the first one's product row lock
      stalled.release();
      await firstReserve;
      // It read the stock the first one left: 1, not enough.
      const err = await secondReserve.then(() => undefined, (e: unknown) => e);
      expect((err as ApplicationFailure).type).toBe(ErrorType.OutOfStock);
    } finally {
      stalled.release();
      await stalled.end();
    }
    expect(await stateOf(p.id)).toEqual({ onHand: 4, reserved: 3, stock: 1 });
  });

  it("products' only key is its id, and no stock writer changes it, so their UPDATEs take no key lock", async () => {
    const keys = await pool.query<{ columns: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY a.attname) AS columns
       FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey)
       WHERE x.indrelid = 'products'::regclass AND x.indisunique GROUP BY x.indexrelid`,
    );
    expect(keys.rows).toEqual([{ columns: ['id'] }]);
  });
});
