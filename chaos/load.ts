import type { Product } from '../store/catalogue';
import { DECLINED_PAYMENT_METHOD } from '../providers/simulated-payment-provider';
import type { Pool } from '../lib/db/pool';
import { send, type Answer } from './http';
import { emptyLedger, type Ledger, type Placement, type Reply } from './ledger';
import { MIX, type Profile } from './profiles';
import type { Random } from './random';

/** The 503s that promise nothing exists (docs/saga.md, the start fence): each is checked as such. */
const NOTHING_HAPPENED = new Set(['TEMPORAL_UNAVAILABLE', 'TEMPORAL_START_REFUSED', 'DATABASE_UNAVAILABLE']);

/** The run's catalogue: ample stock, one product that runs out during the run, one never in stock. */
export function chaosProducts(profile: Profile): Product[] {
  return [
    ...Array.from({ length: 4 }, (_, i) => ({ id: `chaos-${i + 1}`, name: `Chaos product ${i + 1}`, priceCents: 1000 + i * 250, stock: 1_000_000 })),
    { id: 'chaos-scarce', name: 'Scarce product', priceCents: 4999, stock: profile.scarceStock },
    { id: 'chaos-empty', name: 'Never in stock', priceCents: 999, stock: 0 },
  ];
}

interface OrderBody {
  customerId: string;
  items: Array<{ productId: string; quantity: number }>;
  paymentMethod?: string;
}

/** One order of the mix: out of stock, a declined card, the scarce product, one or two lines. */
export function orderBody(random: Random): OrderBody {
  const customerId = `c-${random.int(1, 200)}`;
  if (random.chance(MIX.outOfStock)) return { customerId, items: [{ productId: 'chaos-empty', quantity: 1 }] };
  const regular = ['chaos-1', 'chaos-2', 'chaos-3', 'chaos-4'];
  const first = random.chance(MIX.scarceProduct) ? 'chaos-scarce' : random.pick(regular);
  const items = [{ productId: first, quantity: random.int(1, 3) }];
  if (random.chance(0.2)) items.push({ productId: random.pick(regular.filter((p) => p !== first)), quantity: random.int(1, 2) });
  return random.chance(MIX.declined) ? { customerId, items, paymentMethod: DECLINED_PAYMENT_METHOD } : { customerId, items };
}

/**
 * How long the driver keeps repeating a request whose outcome it does not know,
 * like a patient client: long enough for a stack starved of CPU to come back.
 */
const GIVE_UP_AFTER_MS = 600_000;
/** Backoff between those repeats: 1, 2, 4, 8, then 10 s, plus up to half again, so hundreds of waiting clients do not knock in step. */
const backoffMs = (attempt: number, jitter: number) => Math.min(10_000, 1_000 * 2 ** Math.min(attempt, 4)) * (1 + jitter / 2);
const reply = (a: Answer): Reply => ({ status: a.status, ...(a.code ? { code: a.code } : {}), ...(a.refused ? { refused: true } : {}) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends orders at a steady rate and behaves like a careful client: an order
 * whose answer never came (the API was killed mid-request) is sent again with
 * the same Idempotency-Key; one answered 503 is sent again later; some accepted
 * orders are cancelled at a random moment, some keys are sent again; orders
 * that failed with PAYMENT_UNAVAILABLE are retried (POST /retry). Everything
 * sent and answered goes into the ledger.
 */
export class Driver {
  readonly ledger: Ledger = emptyLedger();
  private readonly chains: Promise<void>[] = [];
  private readonly retriesPerOrder = new Map<string, number>();
  private retrying = false;
  private inFlight = 0;
  /** Orders the last retry round sent to POST /retry. */
  private lastRoundRetried = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly pool: Pool,
    private readonly mix: Random,
    private readonly jitter: Random,
    private readonly seed: number,
  ) {}

  /** Submits `rate × seconds` orders on an open-loop schedule; resolves once the last is sent (not answered). */
  async submit(rate: number, seconds: number): Promise<void> {
    const total = Math.round(rate * seconds);
    const start = Date.now();
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / rate - Date.now();
      if (wait > 0) await sleep(wait);
      const key = this.mix.chance(MIX.withoutIdempotencyKey) ? null : `chaos-${this.seed}-${i}`;
      this.track(this.place(key, orderBody(this.mix)));
    }
  }

  /** Resolves once every request chain has its final answer (new chains started meanwhile included). */
  async settled(): Promise<void> {
    for (let n = 0; n !== this.chains.length; ) {
      n = this.chains.length;
      await Promise.all(this.chains);
    }
  }

  /** Every `intervalMs`, sends POST /retry for each order that failed with PAYMENT_UNAVAILABLE; stop() ends it. */
  retryUnavailable(intervalMs = 2_000): { stop(): void } {
    const timer = setInterval(() => {
      if (this.retrying) return;
      this.retrying = true;
      this.track(this.retryRound().finally(() => (this.retrying = false)));
    }, intervalMs);
    return { stop: () => clearInterval(timer) };
  }

  /** Nothing in flight and nothing left to retry. */
  idle(): boolean {
    return this.inFlight === 0 && this.lastRoundRetried === 0;
  }

  private track(chain: Promise<void>): void {
    this.inFlight++;
    this.chains.push(
      chain.catch((err: unknown) => console.error('chaos driver bug:', err)).finally(() => this.inFlight--),
    );
  }

  private async place(key: string | null, body: OrderBody): Promise<void> {
    const placement: Placement = { key, replies: [], outcome: 'ambiguous' };
    this.ledger.placements.push(placement);
    const headers: Record<string, string> = key ? { 'idempotency-key': key } : {};
    const firstSent = Date.now();
    let unavailable = 0;
    for (let attempt = 0; ; attempt++) {
      const answer = await send(`${this.baseUrl}/api/orders`, 'POST', body, headers);
      placement.replies.push(reply(answer));
      if (answer.status === 202) {
        placement.outcome = 'accepted';
        placement.orderId = String(answer.body?.orderId);
        this.afterAccepted(placement.orderId, key, body);
        return;
      }
      if (answer.status === 503 && NOTHING_HAPPENED.has(String(answer.code))) {
        // A promise that nothing exists: a client may send it again later, a new order if it has no key.
        placement.outcome = 'unavailable';
        if (++unavailable > MIX.unavailableRetries) return;
        await sleep(2_000 + this.jitter.next() * 2_000);
        continue;
      }
      const unknown = answer.status === 0 || answer.status >= 500 || answer.status === 429 || answer.code === 'REQUEST_IN_PROGRESS';
      if (!unknown) {
        placement.outcome = 'refused';
        return;
      }
      placement.outcome = 'ambiguous';
      // Without a key, only a request that never reached a server (or was shed) may be sent again.
      const nothingHappened = answer.refused || answer.code === 'OVERLOADED' || answer.status === 429;
      if (!key && !nothingHappened) return;
      if (Date.now() - firstSent > GIVE_UP_AFTER_MS) return;
      await sleep(Math.max((answer.retryAfterSec ?? 0) * 1000, backoffMs(attempt, this.jitter.next())));
    }
  }

  private afterAccepted(orderId: string, key: string | null, body: OrderBody): void {
    if (this.mix.chance(MIX.cancel)) {
      const delayMs = Math.round(this.mix.next() * MIX.cancelMaxDelayMs);
      this.track(sleep(delayMs).then(() => this.cancel(orderId, delayMs)));
    }
    if (!key) return;
    const repeat = this.mix.next();
    if (repeat < MIX.repeatKeySameBody + MIX.repeatKeyOtherBody) {
      const sameBody = repeat < MIX.repeatKeySameBody;
      const other = { ...body, items: body.items.map((line, i) => (i === 0 ? { ...line, quantity: line.quantity + 1 } : line)) };
      const delayMs = Math.round(this.mix.next() * 2_000);
      this.track(
        sleep(delayMs).then(async () => {
          const answer = await send(`${this.baseUrl}/api/orders`, 'POST', sameBody ? body : other, { 'idempotency-key': key });
          const repeatedId = answer.status === 202 ? String(answer.body?.orderId) : undefined;
          this.ledger.repeats.push({ key, sameBody, firstOrderId: orderId, reply: reply(answer), orderId: repeatedId });
        }),
      );
    }
  }

  /** A 202 at any try counts; "not yet" (409 START_IN_PROGRESS) and unanswered tries are repeated a few times. */
  private async cancel(orderId: string, delayMs: number): Promise<void> {
    const record = { orderId, delayMs, replies: [] as Reply[], accepted: false };
    this.ledger.cancels.push(record);
    for (let attempt = 0; attempt < 6; attempt++) {
      const answer = await send(`${this.baseUrl}/api/orders/${orderId}/cancel`, 'POST');
      record.replies.push(reply(answer));
      if (answer.status === 202) {
        record.accepted = true;
        return;
      }
      const again = answer.status === 0 || answer.status >= 500 || answer.code === 'START_IN_PROGRESS';
      if (!again) return;
      await sleep(500 + this.jitter.next() * 1_000);
    }
  }

  private async retryRound(): Promise<void> {
    let failed: string[];
    try {
      const res = await this.pool.query<{ id: string }>(
        `SELECT id FROM orders WHERE status = 'FAILED' AND failure_reason = 'PAYMENT_UNAVAILABLE'`,
      );
      failed = res.rows.map((r) => r.id);
    } catch {
      return; // PostgreSQL is down: next round
    }
    const due = failed.filter((id) => (this.retriesPerOrder.get(id) ?? 0) < MIX.maxPaymentRetries);
    this.lastRoundRetried = due.length;
    for (const orderId of due) {
      const done = this.retriesPerOrder.get(orderId) ?? 0;
      this.retriesPerOrder.set(orderId, done + 1);
      const answer = await send(`${this.baseUrl}/api/orders/${orderId}/retry`, 'POST');
      this.ledger.retries.push({ orderId, reply: reply(answer) });
    }
  }
}
