import type { Request, RequestHandler, Response } from 'express';
import { HttpError } from './errors';
import type { Metrics } from './metrics';

/** What a client should wait before trying again: in-flight starts finish within their 5 s deadline, most far sooner. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 1;

export interface LoadShedder {
  /**
   * `handler`, run only while fewer than the limit of guarded handlers are running;
   * otherwise answered at once with 503 OVERLOADED and Retry-After, before the
   * handler reads or writes anything.
   */
  guard(route: string, handler: (req: Request, res: Response) => Promise<void>): RequestHandler;
  /** Guarded handlers running now (for tests and the gauge). */
  readonly inFlight: number;
}

/**
 * Bounds the order writes (place, retry) one API process runs at once. Each holds
 * a pool connection and waits on Temporal; past what the process can finish,
 * queueing more only makes every one of them wait toward its start deadline and
 * fail there. Answering the excess at once keeps latency flat for the admitted
 * ones and tells the rest, cheaply, to come back.
 *
 * The slot is held until the handler's promise settles, not until the response
 * closes: a client that hangs up does not stop the start it began, so its work
 * still counts.
 */
export function createLoadShedder(limit: number, metrics: Pick<Metrics, 'ordersShed' | 'ordersInFlight'>): LoadShedder {
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    guard(route, handler) {
      return async (req, res) => {
        if (inFlight >= limit) {
          metrics.ordersShed.inc({ route });
          res.set('Retry-After', String(OVERLOAD_RETRY_AFTER_SECONDS));
          throw new HttpError(503, 'OVERLOADED', 'The service is at capacity; nothing was changed. Retry after the Retry-After delay.');
        }
        inFlight += 1;
        metrics.ordersInFlight.set(inFlight);
        try {
          await handler(req, res);
        } finally {
          inFlight -= 1;
          metrics.ordersInFlight.set(inFlight);
        }
      };
    },
  };
}
