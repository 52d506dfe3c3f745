import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isDatabaseUnavailable } from '../lib/db/pool';
import { HttpError, errorHandler } from '../lib/http-errors';
import type { Logger } from '../lib/logger';
import { operationsAt } from './contract';

export { HttpError, errorHandler, notFoundRoute } from '../lib/http-errors';

/** A PostgreSQL outage is usually a restart or a failover: seconds, not minutes. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * 503 DATABASE_UNAVAILABLE with Retry-After. `message` says what became of the
 * request, which only its handler knows: "nothing was changed" only where nothing was.
 */
export function databaseUnavailable(message: string): HttpError {
  return new HttpError(503, 'DATABASE_UNAVAILABLE', message, undefined, DATABASE_RETRY_AFTER_SECONDS);
}

/**
 * The API's error handler: an outage of PostgreSQL that no handler answered
 * itself (the reads) is a 503 to retry, not a 500. Its message claims nothing
 * about what happened; the handlers that write answer that themselves.
 */
export function apiErrorHandler(logger: Logger): ErrorRequestHandler {
  const handle = errorHandler(logger);
  return (err, req, res, next) => {
    if (err instanceof HttpError || !isDatabaseUnavailable(err)) return handle(err, req, res, next);
    // The driver's message may name hosts and roles: the log gets it, the client does not.
    logger.warn({ err, method: req.method, path: req.path }, 'PostgreSQL unavailable');
    handle(databaseUnavailable('The database is unavailable. Retry after the Retry-After delay.'), req, res, next);
  };
}

/**
 * 405 METHOD_NOT_ALLOWED with `Allow` for a path the API serves asked with a method it does not
 * serve there (OPTIONS included: only CORS preflights, answered by api/cors.ts, are served).
 * Express would answer 404 (no route), as for a path that does not exist.
 */
export const methodNotAllowed: RequestHandler = (req, res, next) => {
  const served = operationsAt(req.path);
  const method = req.method === 'HEAD' ? 'get' : req.method.toLowerCase();
  if (served.length === 0 || served.some((op) => op.method === method)) return next();
  // Express answers HEAD wherever it answers GET.
  const allow = served.flatMap((op) => (op.method === 'get' ? ['GET', 'HEAD'] : [op.method.toUpperCase()]));
  res.set('Allow', allow.join(', '));
  next(new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not served at ${req.path}; it serves ${allow.join(', ')}.`));
};
