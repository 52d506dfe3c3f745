import { createHash, timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import { z } from 'zod';
import { HttpError, errorHandler, notFoundRoute } from '../http-errors';
import type { Logger } from '../logger';

/**
 * Temporal's remote codec protocol, so that the Web UI and the `temporal` CLI can
 * show the decrypted payloads of our workflows to those allowed to see them:
 * `POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}`
 * (proto3 JSON: metadata values and data base64). A process of its own
 * (scripts/codec-server.ts) with its own tokens, apart from the API and its keys.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Accepted `Authorization: Bearer` tokens; empty: none asked (the caller binds to loopback). */
  authTokens: readonly string[];
  /** Browser origins (the Web UI's) allowed to call it. */
  corsOrigins: readonly string[];
  /** The namespace whose keys this server holds; a request naming another is refused. */
  namespace: string;
  logger: Logger;
}

// Temporal caps one payload at 2 MB; a UI page decodes a whole event's payloads in one call.
const BODY_LIMIT = '8mb';

const base64 = z.base64({ message: 'must be base64' });
const payloadsBody = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), base64).optional(),
      data: base64.optional(),
    }),
  ),
});
type JsonPayload = z.infer<typeof payloadsBody>['payloads'][number];

export function createCodecServer(options: CodecServerOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  // Preflights carry no Authorization header, so CORS answers them before the token check.
  app.use(
    cors({
      origin: [...options.corsOrigins],
      methods: ['POST'],
      allowedHeaders: ['Content-Type', 'Authorization', 'X-Namespace'],
      maxAge: 600,
    }),
  );
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  const codec = express.Router();
  codec.use(requireToken(options.authTokens), express.json({ limit: BODY_LIMIT }));
  codec.use((req, _res, next) => {
    const namespace = req.get('x-namespace');
    if (namespace !== undefined && namespace !== options.namespace) {
      return next(new HttpError(403, 'NAMESPACE_NOT_SERVED', `This codec server holds the keys of namespace ${options.namespace} only.`));
    }
    next();
  });
  codec.post('/decode', convert('decode', options));
  codec.post('/encode', convert('encode', options));
  app.use('/codec', codec);
  app.use(notFoundRoute);
  app.use(errorHandler(options.logger));
  return app;
}

function convert(direction: 'encode' | 'decode', { codec, logger }: CodecServerOptions): RequestHandler {
  return async (req, res, next) => {
    const body = payloadsBody.safeParse(req.body);
    if (!body.success) {
      const details = body.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      return next(new HttpError(400, 'VALIDATION_FAILED', 'Expected {"payloads": [{"metadata": {...}, "data": "<base64>"}]}.', details));
    }
    let payloads: Payload[];
    try {
      payloads = await codec[direction](body.data.payloads.map(fromJson));
    } catch (err) {
      // The codec's messages name a key id at most, never payload content.
      logger.warn({ direction, err: (err as Error).message }, 'codec request failed');
      return next(new HttpError(400, `${direction.toUpperCase()}_FAILED`, (err as Error).message));
    }
    res.json({ payloads: payloads.map(toJson) });
  };
}

function requireToken(tokens: readonly string[]): RequestHandler {
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, whatever was sent.
  const digests = tokens.map((t) => createHash('sha256').update(t).digest());
  return (req, _res, next) => {
    if (digests.length === 0) return next();
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const sent = match ? createHash('sha256').update(match[1]!).digest() : undefined;
    if (sent && digests.some((d) => timingSafeEqual(d, sent))) return next();
    next(new HttpError(401, 'UNAUTHORIZED', 'Send Authorization: Bearer <one of CODEC_AUTH_TOKENS>.'));
  };
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): JsonPayload {
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).flatMap(([k, v]) => (v ? [[k, b64(v)]] : []))),
    data: b64(payload.data ?? new Uint8Array()),
  };
}
