import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { apiKeyIndex } from './auth';
import { HttpError } from './errors';
import type { Metrics } from './metrics';

/**
 * At most `perMinute` requests per caller in a fixed one-minute window; 0 turns it off.
 *
 * A caller is its API key when it sends one of API_KEYS, else its IP address
 * (an IPv6 address by its /56, so one host cannot rotate through its prefix).
 * Only a valid key counts as an identity: keying on whatever token is sent would
 * let anyone escape the per-IP limit by sending a new made-up token each time.
 * The key's index, not the key, is the store's key, so no secret sits in memory twice.
 *
 * The count is per process (memory store): N API processes allow N times the limit.
 */
export function rateLimitPerCaller(opts: {
  perMinute: number;
  apiKeys: readonly string[];
  metrics: Pick<Metrics, 'rateLimited'>;
}): RequestHandler {
  if (opts.perMinute === 0) return (_req, _res, next) => next();
  const keyIndex = apiKeyIndex(opts.apiKeys);
  return rateLimit({
    windowMs: 60_000,
    limit: opts.perMinute,
    // RateLimit and RateLimit-Policy (IETF draft 7) tell well-behaved clients their budget;
    // the library adds Retry-After to every 429.
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => {
      const index = keyIndex(req);
      return index === undefined ? `ip:${ipKeyGenerator(req.ip ?? 'unknown')}` : `key:${index}`;
    },
    handler: (_req, _res, next) => {
      opts.metrics.rateLimited.inc();
      next(new HttpError(429, 'RATE_LIMITED', 'Too many requests from this caller; retry after the Retry-After delay.'));
    },
  });
}
