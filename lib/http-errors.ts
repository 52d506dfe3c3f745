import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from './logger';

/*
 * The error envelope of every HTTP service here (the API, the codec server):
 * `{"error": {code, message, details}}`, never a stack trace.
 */

/** An error meant for the client: status, stable code, human message, optional details. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Sent as `Retry-After`: when the client may usefully try again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/**
 * Turns every error into the envelope the HTTP API promises (docs/http-api.md, api/openapi.ts):
 * `{"error": {code, message, details}}`.
 * Unexpected errors are logged with their stack and answered with a bare 500:
 * a stack trace never reaches the client.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let httpError: HttpError;
    if (err instanceof HttpError) {
      httpError = err;
    } else if (err?.type === 'entity.parse.failed') {
      httpError = new HttpError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
    } else if (err?.type === 'entity.too.large') {
      httpError = new HttpError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large.');
    } else if (err instanceof URIError && (err as URIError & { status?: number }).status === 400) {
      // Express's router could not percent-decode a path parameter (e.g. "/api/orders/%zz").
      httpError = new HttpError(400, 'MALFORMED_URL', 'The request path is not valid percent-encoding.');
    } else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') {
      httpError = new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding.');
    } else if (err?.expose === true && Number.isInteger(err.status) && err.status >= 400 && err.status < 500) {
      // Any other client error from the body parser, e.g. a Content-Encoding: gzip body that is not gzip.
      httpError = new HttpError(err.status, 'BAD_REQUEST', 'The request body could not be read.');
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      httpError = new HttpError(500, 'INTERNAL', 'Internal server error.');
    }
    const body: { code: string; message: string; details?: unknown } = {
      code: httpError.code,
      message: httpError.message,
    };
    if (httpError.details !== undefined) body.details = httpError.details;
    if (httpError.retryAfterSeconds !== undefined) res.set('Retry-After', String(httpError.retryAfterSeconds));
    res.status(httpError.status).json({ error: body });
  };
}
