import { createHash } from 'node:crypto';

/**
 * The grammar of API_KEYS entries (docs/configuration.md, and "Security" in docs/http-api.md).
 *
 *   name=key        a caller called `name`: it sees and acts on its own orders only
 *   name:admin=key  an operator: every caller's orders, and the catalogue writes
 *   key             a bare key (the format before callers existed): a caller whose
 *                   name is derived from a digest of the key, never the key itself
 *
 * One caller name may have several keys at a time, for a rotation: every key of a
 * name is that caller, with its orders and its Idempotency-Keys, so the new key
 * is added beside the old one, the client moves, and the old one is removed. A
 * bare key's name comes from the key itself, so a new bare key would be another
 * caller: its successor is written `key-<16 hex>=newkey` under the old one's name.
 * The keys of one name must agree on its scope: a name that is an admin in one
 * entry and not in another is a typo or two callers sharing a name, not a rotation.
 *
 * An entry is named when it has a `=` followed by something other than `=`:
 * base64 keys carry `=` only as trailing padding, so `openssl rand -base64 32`
 * still reads as a bare key. A key with `=` inside must be given a name.
 */
export interface ApiKeyEntry {
  /** Stored as the owner of the caller's orders, and its rate-limit identity. */
  name: string;
  key: string;
  admin: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class ApiKeysError extends Error {}

/**
 * A bare key's caller name: stable across restarts and reorderings of the list,
 * and one-way. Only 64 bits of the digest are kept: enough to tell keys apart,
 * too few to confirm a guess of a strong key offline.
 */
export function bareKeyName(key: string): string {
  return `key-${createHash('sha256').update(`order-saga api key\0${key}`).digest('hex').slice(0, 16)}`;
}

/**
 * Parses the entries of API_KEYS (already split at commas and trimmed). Errors
 * name the entry by its position, never by its text: it may be a secret.
 */
export function parseApiKeys(entries: readonly string[]): ApiKeyEntry[] {
  const parsed = entries.map((entry, i): ApiKeyEntry => {
    const split = entry.search(/=[^=]/);
    if (split === -1) return { name: bareKeyName(entry), key: entry, admin: false };
    const [name, scope, ...rest] = entry.slice(0, split).split(':');
    if (!name || !NAME.test(name) || rest.length > 0 || (scope !== undefined && scope !== 'admin')) {
      throw new ApiKeysError(
        `entry ${i + 1} is neither "key", "name=key" nor "name:admin=key" (a name is 1-64 letters, digits, ".", "_" or "-")`,
      );
    }
    return { name, key: entry.slice(split + 1), admin: scope === 'admin' };
  });
  const keys = new Set<string>();
  const scopes = new Map<string, boolean>();
  parsed.forEach((e, i) => {
    if (keys.has(e.key)) throw new ApiKeysError(`entry ${i + 1} repeats the key of an earlier entry`);
    keys.add(e.key);
    const admin = scopes.get(e.name);
    if (admin !== undefined && admin !== e.admin) {
      throw new ApiKeysError(`entry ${i + 1} gives a caller name of an earlier entry another scope (both keys of one caller need ":admin", or neither)`);
    }
    scopes.set(e.name, e.admin);
  });
  return parsed;
}
