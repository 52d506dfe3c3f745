/**
 * The payload encryption keys (PAYLOAD_ENCRYPTION_KEYS), parsed and checked apart
 * from the codec so that lib/config.ts can validate them without loading Temporal.
 */
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** Keys in order of preference: the first encrypts, all decrypt. */
export type KeyRing = readonly [EncryptionKey, ...EncryptionKey[]];

export class KeyRingError extends Error {}

/**
 * Parses `id1:base64key,id0:base64key`. Errors name the entry by position and id,
 * never show key material.
 */
export function parseKeyRing(spec: string): KeyRing {
  const entries = spec.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  const [first, ...rest] = entries.map((entry, i): EncryptionKey => {
    const colon = entry.indexOf(':');
    const where = `entry ${i + 1}`;
    if (colon < 0) throw new KeyRingError(`${where} is not id:base64key`);
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) throw new KeyRingError(`${where}: key id must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new KeyRingError(`${where} (id ${id}): key is not base64`);
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== KEY_BYTES) {
      throw new KeyRingError(`${where} (id ${id}): key is ${key.length} bytes, AES-256 needs ${KEY_BYTES} (openssl rand -base64 32)`);
    }
    return { id, key };
  });
  if (!first) throw new KeyRingError('no key given; expected id:base64key[,id:base64key...]');
  const ids = new Set<string>();
  for (const { id } of [first, ...rest]) {
    if (ids.has(id)) throw new KeyRingError(`key id ${id} is given twice`);
    ids.add(id);
  }
  return [first, ...rest];
}
