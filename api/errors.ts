import type { RequestHandler } from 'express';
import { HttpError } from '../lib/http-errors';
import { operationsAt } from './contract';

export { HttpError, errorHandler, notFoundRoute } from '../lib/http-errors';

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
