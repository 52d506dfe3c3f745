import express, { type RequestHandler } from 'express';
import { HttpError } from '../errors';

export interface StaticFilesOptions {
  /** How long browsers may keep the files (serve-static's maxAge). */
  maxAge: string | number;
  /** Headers set on every file served, before serve-static's own (a Cache-Control here wins over maxAge). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * A fixed list of files of `dir`, served under the router's mount path for GET
 * and HEAD only. Another method on one of them answers 405 with `Allow`, as
 * every route of api/contract.ts does (api/errors.ts): these files are known
 * paths too, only not operations of the OpenAPI document. Any other name falls
 * through to the 404 for unknown paths, so nothing else of `dir` is reachable.
 */
export function staticFiles(dir: string, names: readonly string[], options: StaticFilesOptions): RequestHandler {
  const files = new Set(names);
  const serve = express.static(dir, { index: false, fallthrough: true, maxAge: options.maxAge });
  return (req, res, next) => {
    if (!files.has(req.path)) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      return next(new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not served at ${req.baseUrl}${req.path}; it serves GET, HEAD.`));
    }
    if (options.headers) res.set(options.headers);
    serve(req, res, next);
  };
}
