import type { DataConverter } from '@temporalio/common';
import type { KeyRing } from './key-ring';
import { EncryptionCodec } from './payload-codec';

/**
 * The data converter of every client and worker that handles order payloads.
 * Without keys it is the SDK's default, with no codec in the path at all.
 */
export function orderDataConverter(keys: KeyRing | undefined): DataConverter | undefined {
  return keys ? { payloadCodecs: [new EncryptionCodec(keys)] } : undefined;
}
