import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from './errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * With API_KEYS set, write routes require `Authorization: Bearer <key>`.
 * Keys are compared as digests in constant time, so response timing does not
 * reveal how much of a guessed key was right. With no keys, everything is open.
 */
export function requireApiKey(keys: readonly string[]): RequestHandler {
  const allowed = keys.map(digest);
  return (req, _res, next) => {
    if (allowed.length === 0) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (match && allowed.some((k) => timingSafeEqual(k, digest(match[1]!)))) return next();
    next(new HttpError(401, 'UNAUTHORIZED', 'A valid API key is required: send "Authorization: Bearer <key>".'));
  };
}
