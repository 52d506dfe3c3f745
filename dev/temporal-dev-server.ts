import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { ORDER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { stopChild } from './child-process';
import { waitForTemporal } from '../lib/temporal/connection';

export interface DevServerOptions {
  cli: string;
  ip?: string;
  port: number;
  /** Web UI port; null runs the server headless (the tests do). */
  uiPort: number | null;
  /** SQLite file that keeps workflows across restarts; in memory when omitted. */
  dbFile?: string;
  /** PRAGMAs for that file; WAL_PRAGMAS unless given ([] keeps SQLite's defaults). */
  sqlitePragmas?: readonly string[];
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** The codec server the Web UI asks to decode encrypted payloads (docs/payload-encryption.md). */
  uiCodecEndpoint?: string;
  /** Where the server's own output goes; inherited by default. */
  stdio?: 'inherit' | 'ignore' | 'pipe';
  /** Append the server's output to this file instead (overrides `stdio`). */
  logFile?: string;
  /** Serve the server's Prometheus metrics on this port (the benchmark counts heartbeats there). */
  metricsPort?: number;
  /**
   * Dynamic config values on top of start-dev's own (the benchmark's tuning rows,
   * FAST_DRAINAGE for `npm start` and the tests). Start-dev's `forceSearchAttributesCacheRefreshOnRead`
   * stays on although it makes each search-attribute lookup read SQLite, because
   * attributes registered at run time (a new namespace, by the API or the worker)
   * must be usable at once (test/e2e/missing-search-attributes.e2e.test.ts); off,
   * it saved 4 ms of dev server CPU per order, within noise (docs/benchmarks.md).
   */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** Extra environment for the server process (e.g. GOGC). */
  env?: NodeJS.ProcessEnv;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * WAL lets readers (the UI's visibility queries) run beside the writer, and a
 * crash loses nothing committed; synchronous=NORMAL is the safe pairing for WAL
 * (an OS crash may lose the last transactions, never corrupt the file).
 */
export const WAL_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'] as const;

/**
 * How soon a Worker Deployment Version that stopped being current is counted
 * again for open pinned runs (DRAINING, then DRAINED), and how long visibility
 * may lag behind: 3 minutes each by default. A dev stack is small, so seconds
 * are cheap, and `temporal worker deployment describe-version` then tells
 * within moments when an old build can be stopped.
 */
export const FAST_DRAINAGE = {
  'matching.wv.VersionDrainageStatusRefreshInterval': '1s',
  'matching.wv.VersionDrainageStatusVisibilityGracePeriod': '2s',
} as const;

const SA_TYPE_FLAG = { KEYWORD: 'Keyword', INT: 'Int' } as const;

/** The `temporal server start-dev` arguments this project relies on. */
export function devServerArgs(opts: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', opts.ip ?? '127.0.0.1', '--port', String(opts.port)];
  args.push('--namespace', opts.namespace ?? 'default', '--log-level', opts.logLevel ?? 'warn');
  if (opts.uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  if (opts.uiCodecEndpoint && opts.uiPort !== null) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  if (opts.dbFile) {
    args.push('--db-filename', opts.dbFile);
    for (const pragma of opts.sqlitePragmas ?? WAL_PRAGMAS) args.push('--sqlite-pragma', pragma);
  }
  for (const key of ORDER_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=${SA_TYPE_FLAG[key.type]}`);
  if (opts.metricsPort !== undefined) args.push('--metrics-port', String(opts.metricsPort));
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

/** Starts the dev server and resolves once it answers gRPC calls. */
export async function startDevServer(opts: DevServerOptions, readyTimeoutMs = 60_000): Promise<DevServer> {
  if (opts.dbFile) mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  let out: 'inherit' | 'ignore' | 'pipe' | number = opts.stdio ?? 'inherit';
  if (opts.logFile) {
    mkdirSync(path.dirname(opts.logFile), { recursive: true });
    out = openSync(opts.logFile, 'a');
  }
  const child = spawn(opts.cli, devServerArgs(opts), { stdio: ['ignore', out, out], env: { ...process.env, ...opts.env } });
  if (typeof out === 'number') closeSync(out); // the child has its own copy
  const address = `${opts.ip ?? '127.0.0.1'}:${opts.port}`;
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `temporal server start-dev exited early (code ${code}, signal ${signal}); is port ${opts.port} free?` +
            (opts.logFile ? ` Its output is in ${opts.logFile}.` : ''),
        ),
      ),
    );
    child.once('error', reject);
  });
  const stop = () => stopChild(child);
  try {
    await Promise.race([waitForTemporal(address, readyTimeoutMs), exited]);
  } catch (err) {
    await stop();
    throw err;
  }
  exited.catch(() => undefined); // later exits are the caller's business
  return { address, uiUrl: opts.uiPort === null ? null : `http://${opts.ip ?? '127.0.0.1'}:${opts.uiPort}`, child, stop };
}
