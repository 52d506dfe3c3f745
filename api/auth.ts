import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * With API_KEYS set, write routes require `Authorization: Bearer <key>`.
 * Keys are compared as digests in constant time, so response timing does not
 * reveal how much of a guessed key was right. With no keys, everything is open.
 */
export function requireApiKey(keys: readonly string[]): RequestHandler {
  const keyIndex = apiKeyIndex(keys);
  return (req, _res, next) => {
    if (keys.length === 0 || keyIndex(req) !== undefined) return next();
    next(new HttpError(401, 'UNAUTHORIZED', 'A valid API key is required: send "Authorization: Bearer <key>".'));
  };
}

/**
 * Which of `keys` the request's bearer token is (its index), or undefined for none.
 * Every key is compared, match or not, so the time taken does not say which one matched.
 */
export function apiKeyIndex(keys: readonly string[]): (req: Request) => number | undefined {
  const allowed = keys.map(digest);
  return (req) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match) return undefined;
    const sent = digest(match[1]!);
    let found: number | undefined;
    allowed.forEach((k, i) => {
      if (timingSafeEqual(k, sent) && found === undefined) found = i;
    });
    return found;
  };
}
