import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../lib/paths';

const OWN_PREFIX = `${pathToFileURL(PROJECT_ROOT).href}/`;

/**
 * Where a process's CPU went, from the V8 CPU profiles that `node --cpu-prof`
 * wrote for it (the benchmark's --profile: one file per thread, the saga's
 * workflow threads included). Self time is grouped by what the code is: the
 * Temporal SDK, the PostgreSQL driver, logging, our own folders, Node.js itself.
 * Time outside JavaScript (the SDK's Rust core, libuv, V8's compiler) shows as
 * "(program)" only while a JavaScript thread waits on it; the core's own threads
 * are not in any profile, which is why the process's CPU in the benchmark is larger.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** µs of the monotonic clock that process.hrtime reads, in every process of the machine. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled CPU time (not idle) of every thread, ms. */
  totalMs: number;
  /** Per thread: `main`, or `workflow thread N`. */
  threads: Record<string, number>;
  /** Self time by category, ms, largest first. */
  categories: Record<string, number>;
}

/** Our own code: a file of this checkout outside node_modules, by top-level folder. */
const OWN_FOLDERS: Record<string, string> = {
  activities: 'our activities (activities/, heartbeats included)',
  store: 'our data layer (store/)',
  providers: 'our simulated services (providers/)',
  api: 'our API (api/)',
  lib: 'our lib/ (logging setup, config, pool)',
  worker: 'our worker set-up (worker/)',
  workflows: 'SDK workflow runtime and the saga (workflow thread)',
  bench: 'benchmark design code (bench/)',
};

const STACK_TRACES = "stack traces (the SDK's promise hook, error formatting)";

/** Native functions called from JavaScript that stand for a cost of their own. */
const NATIVE: Record<string, string> = {
  runInContext: 'workflow sandbox: entering its V8 context (vm runInContext)',
  postMessage: 'messages to and from the workflow threads (postMessage)',
  'get stack': STACK_TRACES,
  captureStackTrace: STACK_TRACES,
  writev: 'socket and pipe writes (writev, writeBuffer)',
  writeBuffer: 'socket and pipe writes (writev, writeBuffer)',
  writeUtf8String: 'socket and pipe writes (writev, writeBuffer)',
};

const CATEGORIES: Array<[RegExp, string]> = [
  [/node_modules\/@temporalio\/workflow\/|workflow-bundle/, 'SDK workflow runtime and the saga (workflow thread)'],
  [/node_modules\/@temporalio\/(worker|core-bridge)\//, 'Temporal SDK: worker'],
  [/node_modules\/@temporalio\/(client|common|proto)\//, 'Temporal SDK: client, payloads, protobuf'],
  [/node_modules\/@temporalio\/activity\//, 'Temporal SDK: activity context'],
  [/node_modules\/protobufjs\/|node_modules\/long\//, 'Temporal SDK: client, payloads, protobuf'],
  [/node_modules\/@grpc\//, 'gRPC (client)'],
  [/node_modules\/(pg|pg-protocol|pg-pool|pg-types|pgpass|postgres-[a-z]+)\//, 'PostgreSQL driver'],
  [/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|on-exit-leak-free)\//, 'logging (pino)'],
  [/node_modules\/(express|router|body-parser|raw-body|send|serve-static|finalhandler|on-finished|type-is|accepts|content-type|qs|iconv-lite|depd|debug|mime-types|negotiator|http-errors|statuses)\//, 'Express and its middleware'],
  [/node_modules\/(helmet|cors|express-rate-limit)\//, 'Express and its middleware'],
  [/node_modules\/zod\//, 'request validation (zod)'],
  [/node_modules\/prom-client\//, 'metrics (prom-client)'],
  [/node_modules\/@opentelemetry\//, 'tracing (OpenTelemetry)'],
  [/node_modules\/tsx\/|node_modules\/esbuild\//, 'TypeScript loader (tsx)'],
  [/^node:|^internal\//, 'Node.js (http, streams, timers, crypto)'],
];

function categoryOf(frame: ProfileNode['callFrame']): string | undefined {
  const { functionName, url } = frame;
  if (functionName === '(idle)') return undefined;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return '(program): native code and V8';
  // Native functions called from JavaScript: the SDK's messages to its workflow threads among them.
  if (!url && functionName) return NATIVE[functionName] ?? (functionName.startsWith('RegExp:') ? STACK_TRACES : 'other native functions (fs, crypto, …)');
  if (!url) return '(program): native code and V8';
  if (url.startsWith('wasm://')) return 'WebAssembly (undici, the module lexer)';
  for (const [pattern, name] of CATEGORIES) if (pattern.test(url)) return name;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg) return `other package: ${pkg}`;
  const own = url.startsWith(OWN_PREFIX) ? OWN_FOLDERS[url.slice(OWN_PREFIX.length).split('/')[0]!] : undefined;
  return own ?? 'other';
}

/** µs on the clock of the profiles' timestamps: the benchmark marks its measuring window with it. */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Summarises every .cpuprofile in `dir` (one process), counting only samples
 * taken inside `window` (monotonicMicros at its start and end), so start-up,
 * the warm-up order and shutdown stay out of it.
 */
export function summariseProfiles(dir: string, window: { fromUs: number; toUs: number }): ProfileSummary {
  // None when the process was killed before it could write them (a shutdown past its grace time).
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort() : [];
  const threads: Record<string, number> = {};
  const categories: Record<string, number> = {};
  let totalMs = 0;
  let workflowThreads = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread. The
    // others are named by what they ran: the SDK's workflow threads, tsx's module loader thread.
    const threadId = file.split('.')[4];
    const urls = profile.nodes.map((n) => n.callFrame.url);
    const thread =
      threadId === '0'
        ? 'main'
        : urls.some((u) => /workflow-bundle|@temporalio\/workflow\//.test(u))
          ? `workflow thread ${++workflowThreads}`
          : urls.some((u) => /node_modules\/tsx\/|esm\/hooks/.test(u))
            ? 'module loader thread (tsx)'
            : `thread ${threadId}`;
    let threadMs = 0;
    let at = profile.startTime;
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] ?? 0;
      if (at < window.fromUs || at > window.toUs) return;
      const node = byId.get(id);
      const category = node && categoryOf(node.callFrame);
      if (!category) return;
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      categories[category] = (categories[category] ?? 0) + ms;
      threadMs += ms;
    });
    threads[thread] = (threads[thread] ?? 0) + threadMs;
    totalMs += threadMs;
  }
  const sorted = Object.fromEntries(Object.entries(categories).sort((a, b) => b[1] - a[1]));
  return { totalMs, threads, categories: sorted };
}

/** The summary per order, as a Markdown list: `npm run bench -- --profile` prints it for each process. */
export function profileMarkdown(name: string, summary: ProfileSummary, orders: number): string {
  const perOrder = (ms: number) => (ms / Math.max(1, orders)).toFixed(2);
  if (summary.totalMs === 0) return `${name}: no CPU profile was written (the process did not exit on its own)`;
  const lines = [`${name}: ${perOrder(summary.totalMs)} ms per order sampled in JavaScript threads (${Object.entries(summary.threads).map(([t, ms]) => `${t} ${perOrder(ms)}`).join(', ')})`];
  for (const [category, ms] of Object.entries(summary.categories)) {
    if (ms / summary.totalMs < 0.01) continue;
    lines.push(`  - ${category}: ${perOrder(ms)} ms (${Math.round((100 * ms) / summary.totalMs)} %)`);
  }
  return lines.join('\n');
}
