import type { RequestHandler } from 'express';

/** Response headers a browser client needs to read: where the order is, replays, and when to come back. */
const EXPOSED = 'Location, Idempotent-Replayed, Retry-After, RateLimit, RateLimit-Policy';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key';
const ALLOWED_METHODS = 'GET, PUT, POST';

/**
 * CORS, closed unless CORS_ORIGINS lists origins: then only those get
 * Access-Control-Allow-Origin, and their preflights are answered 204. Everything
 * else gets no Access-Control-* header at all, so browsers keep other sites'
 * pages from reading our answers. No credentials: the API authenticates with a
 * bearer header, never with cookies.
 */
export function corsFor(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    if (allowed.size === 0) return next();
    // The answer depends on Origin: caches must not serve one origin's answer to another.
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined || !allowed.has(origin)) return next();
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res.set({
        'Access-Control-Allow-Methods': ALLOWED_METHODS,
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
      });
      res.vary('Access-Control-Request-Headers');
      res.status(204).end();
      return;
    }
    res.set('Access-Control-Expose-Headers', EXPOSED);
    next();
  };
}
