import autocannon from 'autocannon';

export interface Accepted {
  orderId: string;
  /** When the request was handed to the socket, ms since the epoch. */
  sentAt: number;
  /** When its 2xx answer arrived. */
  answeredAt: number;
}

export interface LoadResult {
  offeredRps: number;
  durationSec: number;
  sent: number;
  achievedRps: number;
  /** Accept latency percentiles, corrected for coordinated omission (autocannon's default at a fixed rate). */
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  accepted: Accepted[];
}

/**
 * POSTs orders at a fixed offered rate for a while. Each connection carries one
 * request at a time, so the number of connections bounds the concurrency: it is
 * sized for the slowest design (the synchronous one, about 0.7 s per request).
 */
export async function postOrders(baseUrl: string, rate: number, durationSec: number, makeBody: () => object): Promise<LoadResult> {
  const accepted: Accepted[] = [];
  interface Ctx {
    sentAt?: number;
  }
  const result = await autocannon({
    url: `${baseUrl}/api/orders`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: Math.min(1000, Math.max(20, Math.ceil(rate * 1.5))),
    overallRate: rate,
    duration: durationSec,
    timeout: 30,
    requests: [
      {
        setupRequest: (req: autocannon.Request, ctx: Ctx) => {
          ctx.sentAt = Date.now();
          return { ...req, body: JSON.stringify(makeBody()) };
        },
        onResponse: (status: number, body: string, ctx: Ctx) => {
          if (status < 200 || status >= 300) return;
          const { orderId } = JSON.parse(body) as { orderId: string };
          accepted.push({ orderId, sentAt: ctx.sentAt ?? Date.now(), answeredAt: Date.now() });
        },
      } as autocannon.Request,
    ],
  });
  return {
    offeredRps: rate,
    durationSec,
    sent: result.requests.sent,
    achievedRps: result.requests.sent / durationSec,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    accepted,
  };
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
