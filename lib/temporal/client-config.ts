import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

/**
 * Where and how to reach Temporal, resolved the way the Temporal CLI and SDKs
 * resolve it (@temporalio/envconfig): a profile of `temporal.toml`
 * (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; profile
 * TEMPORAL_PROFILE, else `default`), overridden by TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*.
 */
export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  /** An API key turns TLS on unless the profile or TEMPORAL_TLS=false says otherwise. */
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
  /** False when neither TEMPORAL_ADDRESS nor a profile named a server: `npm start` then runs a dev server. */
  addressConfigured: boolean;
}

export class TemporalConfigError extends Error {}

/**
 * Reads the settings from `env` only (its HOME locates the default file), so a
 * caller that passes a bare object gets the defaults without touching the disk.
 */
export function loadTemporalConnection(env: NodeJS.ProcessEnv): TemporalConnectionSettings {
  let profile;
  let options;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: definedValues(env) });
    options = toClientOptions(profile);
  } catch (err) {
    // A TEMPORAL_PROFILE missing from the file, TOML that does not parse, a certificate file that is not there.
    throw new TemporalConfigError(`Temporal client configuration (temporal.toml, TEMPORAL_* variables): ${(err as Error).message}`);
  }
  const { apiKey, tls } = options.connectionOptions;
  const metadata = profile.grpcMeta;
  return {
    address: profile.address ?? DEFAULT_TEMPORAL_ADDRESS,
    namespace: options.namespace ?? DEFAULT_TEMPORAL_NAMESPACE,
    ...(typeof apiKey === 'string' ? { apiKey } : {}),
    ...(tls !== undefined && tls !== null ? { tls } : {}),
    ...(metadata && Object.keys(metadata).length ? { metadata } : {}),
    addressConfigured: profile.address !== undefined,
  };
}

/**
 * Empty values count as unset, as in lib/config.ts (`TEMPORAL_ADDRESS= npm start`
 * means the default); envconfig would take them literally. An empty
 * TEMPORAL_GRPC_META_* is kept: envconfig reads it as "drop this header".
 */
function definedValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && (entry[1] !== '' || entry[0].startsWith('TEMPORAL_GRPC_META_')),
    ),
  );
}

/** The options Connection.connect, Connection.lazy and NativeConnection.connect all take. */
export interface ConnectionTarget {
  address: string;
  apiKey?: string;
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
}

export function connectionOptions(settings: TemporalConnectionSettings): ConnectionTarget {
  return {
    address: settings.address,
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.metadata ? { metadata: settings.metadata } : {}),
  };
}

/**
 * `env` without what would point a child process elsewhere than the local stack
 * that `npm run bench` and `npm run chaos` start for it: a shell's Temporal Cloud
 * settings (API key, profile, TLS, gRPC metadata, config file) and payload keys
 * that the harness's own readers would not hold.
 */
export function localStackEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dropped = /^(TEMPORAL_(API_KEY|PROFILE|CONFIG_FILE|TLS.*|GRPC_META_.*|CODEC_.*)|PAYLOAD_ENCRYPTION_KEYS)$/;
  return Object.fromEntries(Object.entries(env).filter(([name]) => !dropped.test(name)));
}
