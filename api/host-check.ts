import type { RequestHandler } from 'express';
import { HttpError } from '../lib/http-errors';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host name of a Host header, lower case, without its port: `[::1]:3000` -> `[::1]`. */
function hostName(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.replace(/:\d*$/, '');
}

/**
 * The open demo (no API_KEYS) listens on loopback only, and that alone does not keep
 * other sites out: a page on attacker.example can rebind its own name to 127.0.0.1, and
 * the browser then sends its requests here as same-origin ones, with no CORS in the
 * way. Its Host header still names attacker.example, so only loopback names (with any
 * port: a local port forward changes it) are served; anything else is 403 HOST_NOT_ALLOWED.
 */
export const loopbackHostsOnly: RequestHandler = (req, _res, next) => {
  const host = req.get('host');
  if (host !== undefined && LOOPBACK_NAMES.has(hostName(host))) return next();
  next(
    new HttpError(
      403,
      'HOST_NOT_ALLOWED',
      'Without API_KEYS the API serves only requests addressed to localhost, 127.0.0.1 or [::1]; set API_KEYS to serve it under other names.',
    ),
  );
};
