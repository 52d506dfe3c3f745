import { ConfigError, loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createCodecServer } from '../lib/temporal/codec-server';
import { EncryptionCodec } from '../lib/temporal/payload-codec';

/**
 * `npm run codec-server`: decrypts payloads for the Temporal Web UI and CLI
 * (docs/payload-encryption.md). Without CODEC_AUTH_TOKENS it asks for no token and
 * therefore listens on 127.0.0.1 only; with them it listens on every interface.
 */
function main(): void {
  const config = loadConfig();
  const logger = createLogger('codec', config.LOG_LEVEL);
  if (!config.PAYLOAD_ENCRYPTION_KEYS) {
    throw new ConfigError('PAYLOAD_ENCRYPTION_KEYS is not set: without keys there is nothing to decode.');
  }
  const corsOrigins = config.CODEC_CORS_ORIGINS.length ? config.CODEC_CORS_ORIGINS : uiOrigins(config.TEMPORAL_UI_URL);
  const app = createCodecServer({
    codec: new EncryptionCodec(config.PAYLOAD_ENCRYPTION_KEYS),
    authTokens: config.CODEC_AUTH_TOKENS,
    corsOrigins,
    namespace: config.TEMPORAL_NAMESPACE,
    logger,
  });
  const open = config.CODEC_AUTH_TOKENS.length === 0;
  const host = open ? '127.0.0.1' : '0.0.0.0';
  const server = app.listen(config.CODEC_SERVER_PORT, host, (err?: Error) => {
    if (err) {
      logger.fatal({ err: err.message }, `codec server cannot listen on ${host}:${config.CODEC_SERVER_PORT}`);
      process.exit(1);
    }
    logger.info({ corsOrigins, keyIds: config.PAYLOAD_ENCRYPTION_KEYS!.map((k) => k.id) }, `codec server on http://${host}:${config.CODEC_SERVER_PORT}/codec`);
    if (open) logger.warn('CODEC_AUTH_TOKENS is unset: no token is asked, so it listens on 127.0.0.1 only (local demo)');
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** The Web UI's origin; a local UI is opened as 127.0.0.1 or as localhost, so both. */
function uiOrigins(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') return [url.origin];
  return ['127.0.0.1', 'localhost'].map((host) => `${url.protocol}//${host}${url.port ? `:${url.port}` : ''}`);
}

try {
  main();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}
