import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ORDER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { connectionOptions, type ConnectionTarget, type TemporalConnectionSettings } from './client-config';

const GRPC_UNIMPLEMENTED = 12;

export { connectionOptions };

export class TemporalUnreachableError extends Error {}

/**
 * TEMPORAL_GRPC_COMPRESSION (lib/config.ts): auto is none for a plain
 * connection to a loopback address, gzip otherwise. A loopback address with TLS
 * or an API key is a tunnel or a local proxy to a server elsewhere
 * (`kubectl port-forward`, `ssh -L`), where the bytes do cross a network.
 */
export function grpcCompressionFor(settings: Pick<TemporalConnectionSettings, 'address' | 'tls' | 'apiKey'>, setting: 'auto' | 'gzip' | 'none'): 'gzip' | 'none' {
  if (setting !== 'auto') return setting;
  if (settings.apiKey !== undefined || (settings.tls !== undefined && settings.tls !== false)) return 'gzip';
  const host = settings.address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) ? 'none' : 'gzip';
}

/** What NativeConnection.connect takes (the worker's connection): connectionOptions plus the gRPC compression. */
export function nativeConnectionOptions(settings: TemporalConnectionSettings, compression: 'auto' | 'gzip' | 'none') {
  return { ...connectionOptions(settings), grpcCompression: { codec: grpcCompressionFor(settings, compression) } };
}

/** Connects a client, with a message that says what to do when nothing answers. */
export async function connectClient(settings: TemporalConnectionSettings, connectTimeoutMs = 5_000): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: connectTimeoutMs });
    return new Client({ connection, namespace: settings.namespace });
  } catch (err) {
    throw new TemporalUnreachableError(
      `Temporal is not reachable at ${settings.address} (${(err as Error).message}).\n` +
        `Start one with \`npm run temporal:dev\` (or \`npm start\` for the whole stack), or set TEMPORAL_ADDRESS ` +
        `(or a temporal.toml profile; see docs/operations.md).`,
    );
  }
}

/** Waits until a server answers, polling it; a plain address is a local server without TLS. */
export async function waitForTemporal(target: string | ConnectionTarget, timeoutMs: number): Promise<void> {
  const options: ConnectionTarget = typeof target === 'string' ? { address: target } : target;
  const address = options.address;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ ...options, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new TemporalUnreachableError(`Temporal at ${address} did not come up in ${timeoutMs} ms: ${String(lastError)}`);
}

const INDEXED_TYPE = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
} as const;

/**
 * Registers OrderStatus, CustomerId and OrderAmountCents on the namespace when
 * missing. The dev server gets them on its command line; this covers any other
 * server (docker compose, a shared cluster) so that workflows can upsert them.
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  let known: Record<string, unknown> = {};
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    known = { ...existing.customAttributes, ...existing.systemAttributes };
  } catch (err) {
    // The time-skipping test server can add search attributes but not list them.
    if (!(isGrpcServiceError(err) && err.code === GRPC_UNIMPLEMENTED)) throw err;
  }
  const missing = ORDER_SEARCH_ATTRIBUTES.filter((key) => !(key.name in known));
  if (missing.length === 0) return [];
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]])),
  });
  return missing.map((key) => key.name);
}
