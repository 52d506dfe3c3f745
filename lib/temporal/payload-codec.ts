import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { EncryptionKey, KeyRing } from './key-ring';

/**
 * Encrypts every payload that leaves our processes (workflow and activity inputs
 * and results, update arguments, the workflow summary) with AES-256-GCM, so the
 * Temporal server and its database only ever hold ciphertext. Search attributes
 * are not payloads the codec sees: the server must read them to index them.
 *
 * An encrypted payload is the whole original payload (metadata and data, protobuf
 * encoded) sealed as iv ‖ ciphertext ‖ tag, with metadata `encoding:
 * binary/encrypted` and `encryption-key-id` naming the key. The first key of the
 * ring encrypts; every key in it decrypts, so a key is rotated by putting a new
 * one first and dropping the old one once no open history needs it.
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA_KEY = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be decrypted: names the key id, never the content. */
export class PayloadDecryptionError extends Error {}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: EncryptionKey;
  private readonly currentIdBytes: Uint8Array;

  constructor(keys: KeyRing) {
    this.current = keys[0];
    this.currentIdBytes = Buffer.from(keys[0].id);
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA_KEY]: this.currentIdBytes },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    // Payloads written before a key was configured stay readable.
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA_KEY]);
    if (!keyId) throw new PayloadDecryptionError(`encrypted payload has no ${KEY_ID_METADATA_KEY}`);
    const key = this.byId.get(keyId);
    if (!key) throw new PayloadDecryptionError(`payload was encrypted with key id ${keyId}, which is not in PAYLOAD_ENCRYPTION_KEYS`);
    const sealed = payload.data ?? new Uint8Array();
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`encrypted payload (key id ${keyId}) is truncated`);
    const iv = sealed.subarray(0, IV_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv(ALGORITHM, key, iv);
    decipher.setAuthTag(tag);
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`encrypted payload (key id ${keyId}) failed authentication: altered, or sealed with another key of that id`);
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}
