import { randomBytes } from 'node:crypto';
import { DefaultPayloadConverter, type Payload } from '@temporalio/common';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger';
import { devServerArgs } from '../../dev/temporal-dev-server';
import { createCodecServer, type CodecServerOptions } from '../../lib/temporal/codec-server';
import { parseKeyRing } from '../../lib/temporal/key-ring';
import { EncryptionCodec } from '../../lib/temporal/payload-codec';

const UI = 'http://127.0.0.1:8233';
const codec = new EncryptionCodec(parseKeyRing(`k1:${randomBytes(32).toString('base64')}`));
const converter = new DefaultPayloadConverter();
const order = { customerId: 'c-secret', paymentMethod: 'pm_card_visa' };

function server(overrides: Partial<CodecServerOptions> = {}) {
  return createCodecServer({ codec, authTokens: ['t0ken'], corsOrigins: [UI], namespace: 'default', logger: createLogger('test', 'silent'), ...overrides });
}

const json = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data!).toString('base64'),
});

describe('codec server', () => {
  it('decodes what the codec encoded, and encodes what it is given, for a caller with a token', async () => {
    const [sealed] = await codec.encode([converter.toPayload(order)]);
    const decoded = await request(server()).post('/codec/decode').set('Authorization', 'Bearer t0ken').set('X-Namespace', 'default').send({ payloads: [json(sealed!)] });
    expect(decoded.status).toBe(200);
    const payload = decoded.body.payloads[0];
    expect(Buffer.from(payload.metadata.encoding, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payload.data, 'base64').toString())).toEqual(order);

    const encoded = await request(server()).post('/codec/encode').set('Authorization', 'Bearer t0ken').send({ payloads: [payload] });
    expect(encoded.status).toBe(200);
    expect(Buffer.from(encoded.body.payloads[0].data, 'base64').includes('c-secret')).toBe(false);
    const [back] = await codec.decode([{ metadata: Object.fromEntries(Object.entries(encoded.body.payloads[0].metadata as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from(encoded.body.payloads[0].data, 'base64') }]);
    expect(converter.fromPayload(back!)).toEqual(order);
  });

  it('answers 401 without a valid token, and decodes nothing', async () => {
    const [sealed] = await codec.encode([converter.toPayload(order)]);
    for (const auth of [undefined, 'Bearer wrong', 't0ken']) {
      const req = request(server()).post('/codec/decode');
      if (auth) req.set('Authorization', auth);
      const res = await req.send({ payloads: [json(sealed!)] });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
      expect(JSON.stringify(res.body)).not.toContain('c-secret');
    }
  });

  it('asks for no token when none is configured (the loopback-only local demo)', async () => {
    const res = await request(server({ authTokens: [] })).post('/codec/decode').send({ payloads: [] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ payloads: [] });
  });

  it('lets the Web UI origin call it from a browser, no other origin', async () => {
    const preflight = await request(server())
      .options('/codec/decode')
      .set('Origin', UI)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type,x-namespace,authorization');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(UI);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/X-Namespace/);
    const other = await request(server()).options('/codec/decode').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers bad input with a 4xx and the reason', async () => {
    const app = server();
    const auth = { Authorization: 'Bearer t0ken' };
    const shape = await request(app).post('/codec/decode').set(auth).send({ payloads: [{ data: 'not base64!' }] });
    expect(shape.status).toBe(400);
    expect(shape.body.error.code).toBe('VALIDATION_FAILED');
    const notJson = await request(app).post('/codec/decode').set(auth).set('Content-Type', 'application/json').send('{');
    expect(notJson.status).toBe(400);
    const [sealed] = await new EncryptionCodec(parseKeyRing(`gone:${randomBytes(32).toString('base64')}`)).encode([converter.toPayload(order)]);
    const unknownKey = await request(app).post('/codec/decode').set(auth).send({ payloads: [json(sealed!)] });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.error).toMatchObject({ code: 'DECODE_FAILED', message: expect.stringMatching(/key id gone/) });
    const otherNamespace = await request(app).post('/codec/decode').set(auth).set('X-Namespace', 'payments').send({ payloads: [] });
    expect(otherNamespace.status).toBe(403);
  });
});

describe('npm start with payload encryption', () => {
  it('points the dev server UI at the codec server, and a headless server at nothing', () => {
    const args = devServerArgs({ cli: 'temporal', port: 7233, uiPort: 8233, uiCodecEndpoint: 'http://127.0.0.1:8888/codec' });
    expect(args.join(' ')).toContain('--ui-codec-endpoint http://127.0.0.1:8888/codec');
    expect(devServerArgs({ cli: 'temporal', port: 7233, uiPort: 8233 })).not.toContain('--ui-codec-endpoint');
    expect(devServerArgs({ cli: 'temporal', port: 7233, uiPort: null, uiCodecEndpoint: 'http://x/codec' })).not.toContain('--ui-codec-endpoint');
  });
});
