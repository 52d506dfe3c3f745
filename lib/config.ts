import { z } from 'zod';

/**
 * Every environment variable the service reads, validated once at start-up.
 * Names and defaults are those of the configuration table in README.md; a bad value stops the process with
 * one readable line per problem instead of failing later in a request.
 */
const rate = z.coerce.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const millis = z.coerce.number().int('must be a whole number of milliseconds').min(0);
const slots = z.coerce.number().int().min(1).max(10_000);

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  // No default: unset means `npm start`, `npm test` and `npm run bench` run an
  // embedded PostgreSQL (lib/db/embedded.ts); the single components (worker,
  // api, migrate) need it set, see requireDatabaseUrl().
  DATABASE_URL: z.string().url().optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
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
  API_KEYS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0)),
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
  // 0 turns the limit off (a gateway in front may already do it).
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(600),
  // Origins a browser may call the API from; unset: none, so no Access-Control-* header is ever sent.
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((o) => o.trim()).filter((o) => o.length > 0))
    .pipe(z.array(z.url({ protocol: /^https?$/, message: 'must be comma-separated origins such as https://shop.example' })))
    // A browser's Origin header is scheme://host[:port], no path: compare against that form.
    .transform((origins) => origins.map((o) => new URL(o).origin)),
  // Worker tuning; unset means the SDK's default. docs/benchmarks.md measures them.
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: slots.optional(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: slots.optional(),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: slots.optional(),
  WORKER_WORKFLOW_TASK_POLLERS: slots.optional(),
  WORKER_ACTIVITY_TASK_POLLERS: slots.optional(),
  WORKER_MAX_CACHED_WORKFLOWS: slots.optional(),
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Treat empty strings as unset so `FOO= npm start` means "use the default".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
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
