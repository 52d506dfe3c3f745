import { randomBytes } from 'node:crypto';
import { DefaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { parseKeyRing } from '../../lib/temporal/key-ring';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA_KEY } from '../../lib/temporal/payload-codec';

const converter = new DefaultPayloadConverter();
const order = { customerId: 'c-secret-42', items: [{ productId: 'sku-1', quantity: 2 }], paymentMethod: 'pm_card_visa' };
const key = () => randomBytes(32).toString('base64');
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

describe('payload encryption codec', () => {
  const k1 = key();
  const k2 = key();

  it('round-trips a payload, metadata included, and stores no plaintext', async () => {
    const codec = new EncryptionCodec(parseKeyRing(`k1:${k1}`));
    const plain = converter.toPayload(order);
    const [sealed] = await codec.encode([plain]);
    expect(text(sealed!.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![KEY_ID_METADATA_KEY])).toBe('k1');
    expect(Object.keys(sealed!.metadata!)).toEqual([METADATA_ENCODING_KEY, KEY_ID_METADATA_KEY]);
    expect(Buffer.from(sealed!.data!).includes('c-secret-42')).toBe(false);
    expect(Buffer.from(sealed!.data!).includes('json/plain')).toBe(false);
    const [opened] = await codec.decode([sealed!]);
    expect(converter.fromPayload(opened!)).toEqual(order);
    expect(text(opened!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
  });

  it('seals the same payload differently each time (a fresh IV per payload)', async () => {
    const codec = new EncryptionCodec(parseKeyRing(`k1:${k1}`));
    const [a, b] = await codec.encode([converter.toPayload(order), converter.toPayload(order)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotates: the new first key encrypts, the old one still decrypts', async () => {
    const before = new EncryptionCodec(parseKeyRing(`k1:${k1}`));
    const after = new EncryptionCodec(parseKeyRing(`k2:${k2},k1:${k1}`));
    const [old] = await before.encode([converter.toPayload(order)]);
    const [fresh] = await after.encode([converter.toPayload(order)]);
    expect(text(fresh!.metadata![KEY_ID_METADATA_KEY])).toBe('k2');
    const [a, b] = await after.decode([old!, fresh!]);
    expect(converter.fromPayload(a!)).toEqual(order);
    expect(converter.fromPayload(b!)).toEqual(order);
    // The old ring alone cannot read what the new key sealed.
    await expect(before.decode([fresh!])).rejects.toThrow(/key id k2, which is not in PAYLOAD_ENCRYPTION_KEYS/);
  });

  it('rejects tampered ciphertext and a key of the same id that is not the one used', async () => {
    const codec = new EncryptionCodec(parseKeyRing(`k1:${k1}`));
    const [sealed] = await codec.encode([converter.toPayload(order)]);
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 0x01;
    await expect(codec.decode([{ ...sealed!, data }])).rejects.toThrow(/key id k1\) failed authentication/);
    const impostor = new EncryptionCodec(parseKeyRing(`k1:${k2}`));
    await expect(impostor.decode([sealed!])).rejects.toThrow(/failed authentication/);
    await expect(codec.decode([{ ...sealed!, data: data.subarray(0, 10) }])).rejects.toThrow(/truncated/);
  });

  it('passes through payloads that were never encrypted (histories from before a key was set)', async () => {
    const codec = new EncryptionCodec(parseKeyRing(`k1:${k1}`));
    const plain: Payload = converter.toPayload(order);
    const [out] = await codec.decode([plain]);
    expect(out).toBe(plain);
  });
});

describe('PAYLOAD_ENCRYPTION_KEYS', () => {
  const configError = (value: string) => {
    try {
      loadConfig({ PAYLOAD_ENCRYPTION_KEYS: value });
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('is optional and parses id:base64 entries in order', () => {
    expect(loadConfig({}).PAYLOAD_ENCRYPTION_KEYS).toBeUndefined();
    const k1 = key();
    const ring = loadConfig({ PAYLOAD_ENCRYPTION_KEYS: ` new:${key()} , old:${k1}` }).PAYLOAD_ENCRYPTION_KEYS!;
    expect(ring.map((k) => k.id)).toEqual(['new', 'old']);
    expect(ring[1].key.toString('base64')).toBe(k1);
  });

  it('names the problem, and never echoes key material', () => {
    const short = randomBytes(16).toString('base64');
    expect(configError(`k1:${short}`)).toMatch(/PAYLOAD_ENCRYPTION_KEYS: entry 1 \(id k1\): key is 16 bytes, AES-256 needs 32/);
    expect(configError(`k1:${short}`)).not.toContain(short);
    expect(configError('just-a-key')).toMatch(/entry 1 is not id:base64key/);
    expect(configError(`k1:${key()},k1:${key()}`)).toMatch(/key id k1 is given twice/);
    expect(configError(`k 1:${key()}`)).toMatch(/key id must be/);
    expect(configError('k1:not base64!')).toMatch(/key is not base64/);
    expect(configError(',')).toMatch(/no key given/);
  });
});
