import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { ApiKeyEntry } from '../lib/api-keys';
import { HttpError } from './errors';

/** Who sent a request: the API key's caller, or everyone while the API is open. */
export interface Caller {
  /** Owner of the orders it places; null while the API is open (no API_KEYS), as for orders from before owners. */
  name: string | null;
  /** Sees and acts on every caller's orders, and may write the catalogue. */
  admin: boolean;
}

/** The caller of every request while the API is open: no key is asked for, so nothing can be kept apart. */
export const OPEN_CALLER: Caller = Object.freeze({ name: null, admin: true });

// Express types res.locals through this global namespace: declaring the caller there types it on every route.
declare global {
  namespace Express {
    interface Locals {
      /** Set by authenticate() when the request carries a valid key (always, while the API is open). */
      caller?: Caller;
    }
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const REALM = 'Bearer realm="order-saga"';

/**
 * Resolves the request's caller from `Authorization: Bearer <key>` into
 * res.locals.caller, and rejects nothing itself: requireCaller and requireAdmin
 * do, on the routes that need them, and the rate limiter keys on the caller.
 * Keys are compared as digests in constant time, every one of them whether or
 * not an earlier one matched, so timing tells neither how much of a guess was
 * right nor which key it matched.
 */
export function authenticate(entries: readonly ApiKeyEntry[]): RequestHandler {
  if (entries.length === 0) {
    return (_req, res, next) => {
      res.locals.caller = OPEN_CALLER;
      next();
    };
  }
  const allowed = entries.map((e) => ({ digest: digest(e.key), caller: Object.freeze({ name: e.name, admin: e.admin }) }));
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (match) {
      const sent = digest(match[1]!);
      let found: Caller | undefined;
      for (const k of allowed) if (timingSafeEqual(k.digest, sent) && found === undefined) found = k.caller;
      res.locals.caller = found;
    }
    next();
  };
}

function unauthorized(req: Request, res: Response): HttpError {
  // RFC 6750: say which scheme is wanted, and whether the token sent was the problem.
  res.set('WWW-Authenticate', req.get('authorization') === undefined ? REALM : `${REALM}, error="invalid_token"`);
  return new HttpError(401, 'UNAUTHORIZED', 'A valid API key is required: send "Authorization: Bearer <key>".');
}

/** 401 UNAUTHORIZED unless the request has a caller (a valid key, or the API is open). */
export const requireCaller: RequestHandler = (req, res, next) => {
  next(res.locals.caller ? undefined : unauthorized(req, res));
};

/** Like requireCaller, and 403 FORBIDDEN for a caller that is not an admin. */
export const requireAdmin: RequestHandler = (req, res, next) => {
  const caller = res.locals.caller;
  if (!caller) return next(unauthorized(req, res));
  if (caller.admin) return next();
  res.set('WWW-Authenticate', `${REALM}, error="insufficient_scope"`);
  next(new HttpError(403, 'FORBIDDEN', 'This API key may not do this: it needs an admin key (API_KEYS entry "name:admin=key").'));
};

/** The caller of a request that passed requireCaller. */
export function callerOf(res: Response): Caller {
  const caller = res.locals.caller;
  if (!caller) throw new Error('callerOf: the route is not behind requireCaller');
  return caller;
}

/** Whether `caller` may see and act on an order owned by `owner` (null: placed while the API was open, or before owners). */
export function mayAccess(caller: Caller, owner: string | null): boolean {
  return caller.admin || (owner !== null && owner === caller.name);
}
