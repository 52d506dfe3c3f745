import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { HttpError } from './errors';
import type { Metrics } from './metrics';

/**
 * At most `perMinute` requests per caller in a fixed one-minute window; 0 turns it off.
 * Runs after authenticate() (api/auth.ts).
 *
 * A caller is its API key's caller name when it sends a valid key, else its IP
 * address (an IPv6 address by its /56, so one host cannot rotate through its
 * prefix). Only a valid key counts as an identity: keying on whatever token is
 * sent would let anyone escape the per-IP limit by sending a new made-up token
 * each time. The IP is req.ip: the peer's address unless TRUST_PROXY names the
 * proxies whose X-Forwarded-For may be believed (api/app.ts).
 *
 * The count is per process (memory store): N API processes allow N times the limit.
 */
export function rateLimitPerCaller(opts: { perMinute: number; metrics: Pick<Metrics, 'rateLimited'> }): RequestHandler {
  if (opts.perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: opts.perMinute,
    // RateLimit and RateLimit-Policy (IETF draft 7) tell well-behaved clients their budget;
    // the library adds Retry-After to every 429.
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req, res) => {
      // An open API has one caller for everybody (no name): there the address is all that tells them apart.
      const name = res.locals.caller?.name;
      return name == null ? `ip:${ipKeyGenerator(req.ip ?? 'unknown')}` : `caller:${name}`;
    },
    handler: (_req, _res, next) => {
      opts.metrics.rateLimited.inc();
      next(new HttpError(429, 'RATE_LIMITED', 'Too many requests from this caller; retry after the Retry-After delay.'));
    },
  });
}
