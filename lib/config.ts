import { isIP } from 'node:net';
import { z } from 'zod';
import { ApiKeysError, parseApiKeys } from './api-keys';
import { KeyRingError, parseKeyRing } from './temporal/key-ring';
import {
  DEFAULT_TEMPORAL_ADDRESS,
  DEFAULT_TEMPORAL_NAMESPACE,
  TemporalConfigError,
  loadTemporalConnection,
  type TemporalConnectionSettings,
} from './temporal/client-config';

/**
 * Every environment variable the service reads, validated once at start-up.
 * Names and defaults are those of docs/configuration.md; a bad value stops the process with
 * one readable line per problem instead of failing later in a request.
 */
const rate = z.coerce.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const millis = z.coerce.number().int('must be a whole number of milliseconds').min(0);
const slots = z.coerce.number().int().min(1).max(10_000);

/** A comma-separated list; unset or blank entries make an empty list. */
const commaList = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0));
/** Browser origins, compared against an Origin header: scheme://host[:port], no path. */
const originList = (example: string) =>
  commaList
    .pipe(z.array(z.url({ protocol: /^https?$/, message: `must be comma-separated origins such as ${example}` })))
    .transform((origins) => origins.map((o) => new URL(o).origin));

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  // No default: unset means `npm start`, `npm test` and `npm run bench` run an
  // embedded PostgreSQL (dev/embedded-postgres.ts); the single components (worker,
  // api, migrate) need it set, see requireDatabaseUrl().
  DATABASE_URL: z.string().url().optional(),
  // The defaults apply only when no temporal.toml profile names them either: loadConfig()
  // replaces both with what @temporalio/envconfig resolves (lib/temporal/client-config.ts).
  TEMPORAL_ADDRESS: z.string().min(1).default(DEFAULT_TEMPORAL_ADDRESS),
  TEMPORAL_NAMESPACE: z.string().min(1).default(DEFAULT_TEMPORAL_NAMESPACE),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('orders'),
  TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Unset: human-readable lines on a terminal, JSON otherwise (lib/logger.ts reads it).
  LOG_PRETTY: z.enum(['0', '1'], { message: 'must be 0 (JSON lines) or 1 (human-readable lines)' }).optional(),
  INVENTORY_LATENCY_MS: millis.default(0),
  PAYMENT_LATENCY_MS: millis.default(0),
  NOTIFY_LATENCY_MS: millis.default(0),
  PAYMENT_FAILURE_RATE: rate.default(0),
  NOTIFY_FAILURE_RATE: rate.default(0),
  // Share of payments whose charge takes PAYMENT_SLOW_MS instead of PAYMENT_LATENCY_MS:
  // the benchmark's failure mix sets it above the payment step's 3 s heartbeat timeout.
  PAYMENT_SLOW_RATE: rate.default(0),
  PAYMENT_SLOW_MS: millis.default(0),
  // A test hook, unset by default: while a file exists at this path the simulated payment
  // provider fails every call (npm run chaos takes it down and back with it).
  PAYMENT_OUTAGE_FILE: z.string().min(1).optional(),
  // Entries as written (lib/api-keys.ts has their grammar); checked here so a bad entry stops the start.
  API_KEYS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0))
    .superRefine((entries, ctx) => {
      try {
        parseApiKeys(entries);
      } catch (err) {
        if (!(err instanceof ApiKeysError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    }),
  // Only `1` counts: the deliberate choice to run without API_KEYS where NODE_ENV=production.
  ALLOW_OPEN_API: z.enum(['0', '1'], { message: 'must be 1 (serve without API keys) or 0' }).optional(),
  NODE_ENV: z.string().optional(),
  // Which proxies' X-Forwarded-For to believe (express's `trust proxy`), so that the per-caller rate
  // limit and the logs see the client's address, not the load balancer's. Off by default: believing
  // the header from anyone lets every client pick its own address.
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const trust = parseTrustProxy(v);
      if (trust === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            'must be 0 (off), the number of proxies in front (1), or comma-separated proxy addresses or subnets ' +
            '(10.0.0.0/8, loopback, linklocal, uniquelocal); "true" is refused: it lets any client forge its address',
        });
        return z.NEVER;
      }
      return trust;
    }),
  // Not one of the original variables, so name and default are ours: how long the payment step may keep
  // retrying a failing provider before the order fails with PAYMENT_UNAVAILABLE.
  // The API passes it into each workflow, so it is fixed per order at start.
  PAYMENT_BUDGET_MS: millis.min(1000).default(120_000),
  // Size of each process's PostgreSQL pool (API and worker have one each). No
  // connection is held while the API waits for Temporal, so this bounds concurrent
  // SQL only; MAX_ORDERS_IN_FLIGHT bounds accepts. Two processes of 30 stay well
  // inside PostgreSQL's default max_connections of 100.
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(30),
  // How many POST /api/orders and retry handlers may run at once in one API process; the next one is
  // answered 503 OVERLOADED at once instead of queueing for the pool and Temporal until its start deadline.
  MAX_ORDERS_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(64),
  // Requests per minute one caller (its API key when it sends a valid one, else its IP) may make to /api;
  // 0 turns the limit off (a gateway in front may already do it). A shop's backend is one caller, so the
  // default (100/s, Stripe's per-account rate) sits above what one process serves (about 20 orders/s):
  // the limit stops floods and runaway loops, and MAX_ORDERS_IN_FLIGHT's shedding guards the capacity.
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(6_000),
  // Origins a browser may call the API from; unset: none, so no Access-Control-* header is ever sent.
  CORS_ORIGINS: originList('https://shop.example'),
  // Payload encryption (lib/temporal/payload-codec.ts): `id:base64key` entries, the first
  // encrypts, all decrypt. Unset: payloads are stored as plain JSON, as before.
  PAYLOAD_ENCRYPTION_KEYS: z
    .string()
    .optional()
    .transform((spec, ctx) => {
      if (spec === undefined) return undefined;
      try {
        return parseKeyRing(spec);
      } catch (err) {
        if (!(err instanceof KeyRingError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
        return z.NEVER;
      }
    }),
  // The codec server (scripts/codec-server.ts) that decrypts payloads for the Web UI and CLI.
  CODEC_SERVER_PORT: z.coerce.number().int().min(0).max(65535).default(8888),
  // Bearer tokens the codec server accepts; unset: no token asked, and it listens on 127.0.0.1 only.
  CODEC_AUTH_TOKENS: commaList,
  // Browser origins allowed to call the codec server; unset: the origin of TEMPORAL_UI_URL.
  CODEC_CORS_ORIGINS: originList('http://127.0.0.1:8233'),
  // Read by the OpenTelemetry exporter itself (lib/telemetry/tracing.ts); checked here so a typo
  // stops the process instead of losing every span.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL such as http://127.0.0.1:4318' }).optional(),
  // gRPC compression of the worker's connection (the SDK's Rust core gzips by default). auto: none
  // for a plain connection to a loopback address, where it only costs CPU on both ends (docs/benchmarks.md
  // measures it), gzip elsewhere (lib/temporal/connection.ts grpcCompressionFor).
  TEMPORAL_GRPC_COMPRESSION: z.enum(['auto', 'gzip', 'none'], { message: 'must be auto, gzip or none' }).default('auto'),
  // Worker tuning; unset means the SDK's default. docs/benchmarks.md measures them.
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: slots.optional(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: slots.optional(),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: slots.optional(),
  WORKER_WORKFLOW_TASK_POLLERS: slots.optional(),
  WORKER_ACTIVITY_TASK_POLLERS: slots.optional(),
  WORKER_MAX_CACHED_WORKFLOWS: slots.optional(),
  // Worker Versioning (lib/temporal/deployment.ts): the Worker Deployment the worker joins, and its
  // build id in it. Unset, the build id is derived from the workflow bundle, so that any change of the
  // workflow code is a new build.
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "-" and "_" only (the server joins name and build id with "." and ":")')
    .default('order-saga'),
  WORKER_BUILD_ID: z.string().min(1).max(255).regex(/^[^\s:]+$/, 'no spaces or ":"').optional(),
  // 1: take WORKER_BUILD_ID as given even when it does not end with the bundle's hash, for ids that
  // something else keeps to one code (a Temporal Worker Controller). Without it, deploymentVersion()
  // refuses such an id: a pinned run would be replayed on other code than the one it started on.
  WORKER_BUILD_ID_FORCE: z.enum(['0', '1'], { message: 'must be 1 (take WORKER_BUILD_ID as given) or 0' }).default('0'),
  // 1: once it polls, the worker makes its own build the deployment's current version (npm start, the
  // test and benchmark stacks). if-none: only while the deployment has no current version (the compose
  // stack's first start; a restart never takes new orders back from a newer build). Production rollouts
  // make a build current as a step of their own (docs/operations.md).
  WORKER_SET_CURRENT: z.enum(['0', '1', 'if-none'], { message: 'must be 0, 1 or if-none' }).default('0'),
  // The worker's Prometheus endpoint (GET /metrics: the SDK's temporal_* series and the saga's own);
  // 0 turns it off (the tests' workers, which share one machine and would collide on the port).
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  // Where that endpoint listens: every interface by default, for a Prometheus in another container or
  // host; `npm start` sets 127.0.0.1 (the local demo has nothing to scrape it from elsewhere).
  WORKER_METRICS_HOST: z
    .string()
    .refine((v) => isIP(v) !== 0, 'must be an IP address to listen on, such as 127.0.0.1 or 0.0.0.0')
    .default('0.0.0.0'),
});

/** The variable names loadConfig() reads itself (the Temporal connection ones are lib/temporal/client-config.ts's). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export type Config = z.infer<typeof schema> & {
  /** Address, namespace, API key, TLS: TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE above are its address and namespace. */
  temporal: TemporalConnectionSettings;
};

/** express's `trust proxy` value: false (off), a number of hops, or the proxies' addresses. */
export type TrustProxy = false | number | string[];

const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal']);

function parseTrustProxy(raw: string | undefined): TrustProxy | undefined {
  if (raw === undefined || raw === '0' || raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw) <= 100 ? Number(raw) : undefined;
  const entries = raw.split(',').map((e) => e.trim());
  const valid = (entry: string) => {
    if (PROXY_PRESETS.has(entry)) return true;
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return false;
    return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
  };
  return entries.every(valid) ? entries : undefined;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Treat empty strings as unset so `FOO= npm start` means "use the default".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  let temporal: TemporalConnectionSettings;
  try {
    temporal = loadTemporalConnection(cleaned);
  } catch (err) {
    if (err instanceof TemporalConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return { ...parsed.data, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace, temporal };
}

/**
 * DATABASE_URL for a process that does not start a database itself. Only
 * `npm start`, the test setup and the benchmark run an embedded PostgreSQL;
 * a single component started on its own must be told where the database is.
 */
export function requireDatabaseUrl(config: Config, command: string): string {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  throw new ConfigError(
    `DATABASE_URL is not set, and \`${command}\` starts no database of its own:\n` +
      '  set DATABASE_URL (e.g. postgres://user:password@127.0.0.1:5432/orders), or\n' +
      '  run `npm start`, which starts an embedded PostgreSQL (data in .data/postgres) and the whole stack.',
  );
}

/** Where and how the API serves, decided once at start from API_KEYS, ALLOW_OPEN_API and NODE_ENV. */
export interface ApiExposure {
  /** No API key is asked for: every caller may do everything. */
  open: boolean;
  /** The address to listen on; undefined: every interface. */
  host: string | undefined;
  /** Said at start when the API is open. */
  warning: string | undefined;
}

/**
 * With API_KEYS the API listens on every interface and asks for keys. Without
 * them it is open: on loopback only for the local demo (`npm start`); in
 * production it refuses to start unless ALLOW_OPEN_API=1 says that something in
 * front of it (a gateway) authenticates callers, and then it listens everywhere.
 */
export function apiExposure(config: Config): ApiExposure {
  if (config.API_KEYS.length > 0) return { open: false, host: undefined, warning: undefined };
  if (config.ALLOW_OPEN_API === '1') {
    return {
      open: true,
      host: undefined,
      warning: 'API_KEYS is not set and ALLOW_OPEN_API=1: the API is OPEN on every interface; anyone who reaches it may place, read and cancel every order',
    };
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError(
      'API_KEYS is not set and NODE_ENV=production: the API will not serve every order to whoever reaches it.\n' +
        '  set API_KEYS (e.g. API_KEYS=shop=<key>,ops:admin=<key>; docs/http-api.md, "Security"), or\n' +
        '  set ALLOW_OPEN_API=1 if a gateway in front of the API authenticates its callers.',
    );
  }
  return {
    open: true,
    host: '127.0.0.1',
    warning: 'API_KEYS is not set: the API is OPEN (no key asked, every order visible) and listens on 127.0.0.1 only, for the local demo',
  };
}
