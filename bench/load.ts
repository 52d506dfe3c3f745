import http from 'node:http';

export interface Accepted {
  orderId: string;
  /** When the request was sent, ms since the epoch. */
  sentAt: number;
  /** When its 2xx answer arrived. */
  answeredAt: number;
}

/**
 * Cancels sent after accepts: `share` of the accepted orders (an independent
 * draw per order) get `POST /api/orders/:id/cancel` a uniform random 0 to
 * `maxDelayMs` after their 202 arrived, so that the cancels land in every state
 * the order passes through, not only the first.
 */
export interface CancelMix {
  share: number;
  maxDelayMs: number;
}

export interface CancelAttempt {
  orderId: string;
  /** How long after the order's 202 the cancel was sent. */
  delayMs: number;
  /** The cancel's HTTP status; 0 for a connection error or timeout. */
  status: number;
  /** For a 202, the order's status the saga accepted the cancel in. */
  acceptedIn?: string;
}

export interface LoadResult {
  offeredRps: number;
  durationSec: number;
  sent: number;
  /** Requests actually sent per second (below offered only if this process fell behind). */
  achievedRps: number;
  /** Accept latency percentiles over every 2xx answer, timed per request (send to answer). */
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  /**
   * Of the errors, the requests the API shed at once (503 OVERLOADED: more
   * orders in flight than MAX_ORDERS_IN_FLIGHT) rather than held and failed.
   */
  shed: number;
  /** Non-2xx answers by status (0: connection error or timeout). */
  errorsByStatus: Record<string, number>;
  accepted: Accepted[];
  /** Every cancel sent (empty without a CancelMix); their requests count in none of the figures above. */
  cancels: CancelAttempt[];
}

/**
 * POSTs `rate × durationSec` orders on an open-loop schedule (request i is sent
 * at start + i/rate whatever happened to the earlier ones) and waits for every
 * answer. Open loop matters: a slow server cannot slow the arrivals down, so its
 * latency is measured at the offered rate, without coordinated omission.
 *
 * Why not autocannon: checked against a server that always answers in 100 ms,
 * autocannon 8 with `overallRate` sent each second's requests in one burst,
 * reported a median of 54 ms, and counted a second of unsent requests as sent;
 * `connectionRate` cannot go below one request per second per connection, which
 * again synchronises the connections into bursts.
 */
export async function postOrders(
  baseUrl: string,
  rate: number,
  durationSec: number,
  makeBody: () => object,
  cancelMix?: CancelMix,
): Promise<LoadResult> {
  const url = new URL('/api/orders', baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2000 });
  const total = Math.round(rate * durationSec);
  const accepted: Accepted[] = [];
  const cancels: CancelAttempt[] = [];
  let errors = 0;
  let shed = 0;
  const errorsByStatus: Record<string, number> = {};
  const failed = (status: number, text = '') => {
    errors++;
    errorsByStatus[status] = (errorsByStatus[status] ?? 0) + 1;
    if (status === 503 && text.includes('"OVERLOADED"')) shed++;
  };
  const inFlight: Promise<void>[] = [];
  // Pushed to while the orders are still being answered, and awaited after
  // them: every cancel has its answer before postOrders returns, so the caller's
  // checks know which ones were accepted.
  const cancelsInFlight: Promise<void>[] = [];
  const cancelLater = (orderId: string) => {
    const delayMs = Math.round(Math.random() * cancelMix!.maxDelayMs);
    const cancelUrl = new URL(`/api/orders/${encodeURIComponent(orderId)}/cancel`, baseUrl);
    cancelsInFlight.push(
      new Promise((r) => setTimeout(r, delayMs))
        .then(() => post(cancelUrl, agent, ''))
        .then(
          ({ status, text }) => {
            const acceptedIn = status === 202 ? (JSON.parse(text) as { status: string }).status : undefined;
            cancels.push({ orderId, delayMs, status, acceptedIn });
          },
          () => void cancels.push({ orderId, delayMs, status: 0 }),
        ),
    );
  };
  const start = Date.now();
  let lastSent = start;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = JSON.stringify(makeBody());
    const sentAt = Date.now();
    lastSent = sentAt;
    inFlight.push(
      post(url, agent, body).then(
        ({ status, text }) => {
          if (status < 200 || status >= 300) {
            failed(status, text);
            return;
          }
          const orderId = (JSON.parse(text) as { orderId: string }).orderId;
          accepted.push({ orderId, sentAt, answeredAt: Date.now() });
          if (cancelMix && Math.random() < cancelMix.share) cancelLater(orderId);
        },
        () => failed(0),
      ),
    );
  }
  await Promise.all(inFlight);
  await Promise.all(cancelsInFlight);
  agent.destroy();
  const latencies = accepted.map((a) => a.answeredAt - a.sentAt);
  return {
    offeredRps: rate,
    durationSec,
    sent: total,
    achievedRps: total > 1 ? (total - 1) / Math.max(0.001, (lastSent - start) / 1000) : total,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    shed,
    errorsByStatus,
    accepted,
    cancels,
  };
}

function post(url: URL, agent: http.Agent, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 30_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
