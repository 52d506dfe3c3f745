import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PROJECT_ROOT } from '../lib/paths';
import { TEMPORAL_CLI, ensureTool } from '../lib/temporal/cli';
import { startDevServer, type DevServer } from '../lib/temporal/dev-server';
import { WORKFLOWS_PATH } from '../worker/options';
import { freePort } from '../lib/free-port';
import { BENCH_PRODUCTS, countViolations, dropDatabase, findViolations, freshDatabase, terminalOrders, type FinalState } from './database';
import { DESIGNS, type Design, type DesignKey } from './designs';
import { RABBITMQ_URL } from './designs/rabbitmq/topology';
import { percentile, postOrders, type Accepted, type LoadResult } from './load';
import { launch, waitForHttp, type Launched } from './processes';
import { markdownReport, svgChart, type BenchReport, type DesignMetrics } from './report';

/**
 * `npm run bench [-- --quick] [--out FILE] [--designs sync,rabbitmq,temporal]`
 *
 * Runs the same load against the three designs on this machine, one after the
 * other, with the same simulated latencies and the same domain code, and
 * reports each design's figures side by side. Every phase of every design gets a
 * fresh database and freshly started processes. See docs/benchmarks.md.
 */

const SETTINGS = {
  quick: {
    latencies: { INVENTORY_LATENCY_MS: '200', PAYMENT_LATENCY_MS: '300', NOTIFY_LATENCY_MS: '150' },
    steady: { rate: 200, seconds: 5 },
    ramp: { rates: [50, 100, 200, 400], seconds: 3 },
    failures: { rate: 50, seconds: 4, outOfStock: 0.1, declined: 0.1, paymentFailureRate: 0.05 },
    drainTimeoutSec: 60,
  },
  full: {
    latencies: { INVENTORY_LATENCY_MS: '200', PAYMENT_LATENCY_MS: '300', NOTIFY_LATENCY_MS: '150' },
    steady: { rate: 200, seconds: 30 },
    ramp: { rates: [25, 50, 100, 200, 300, 400, 600, 800], seconds: 10 },
    failures: { rate: 100, seconds: 20, outOfStock: 0.1, declined: 0.1, paymentFailureRate: 0.05 },
    drainTimeoutSec: 300,
  },
};
type Settings = (typeof SETTINGS)['full'];

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    designs: { type: 'string', default: 'sync,rabbitmq,temporal' },
    // Tuning knob: the dev server's store. `file` is what npm start runs (SQLite
    // file, WAL); `memory` keeps SQLite in memory and shows what the file costs.
    'temporal-db': { type: 'string', default: 'file' },
  },
});
const settings: Settings = args.quick ? SETTINGS.quick : SETTINGS.full;
const designKeys = args.designs!.split(',').map((s) => s.trim()) as DesignKey[];
const baseDatabaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/orders';
const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
const logDir = path.join(resultsDir, 'logs');

function orderBody(failureMix: boolean): () => object {
  const normal = BENCH_PRODUCTS.filter((p) => p.stock > 0);
  return () => {
    const r = Math.random();
    const customerId = `c-${1 + Math.floor(Math.random() * 1000)}`;
    if (failureMix && r < settings.failures.outOfStock) {
      return { customerId, items: [{ productId: 'bench-empty', quantity: 1 }] };
    }
    const product = normal[Math.floor(Math.random() * normal.length)]!;
    const items = [{ productId: product.id, quantity: 1 + Math.floor(Math.random() * 3) }];
    if (failureMix && r < settings.failures.outOfStock + settings.failures.declined) {
      return { customerId, items, paymentMethod: 'pm_card_chargeDeclined' };
    }
    return { customerId, items };
  };
}

interface PhaseContext {
  baseUrl: string;
  pool: pg.Pool;
  processes: Launched[];
}

let temporal: DevServer | undefined;
let workflowBundlePath = '';

/** Fresh database, fresh processes, warm-up order, then `body`; always cleans up. */
async function phase<T>(design: Design, name: string, extraEnv: NodeJS.ProcessEnv, body: (ctx: PhaseContext) => Promise<T>) {
  const dbName = `orders_bench_${design.key}_${name}`;
  const { url, pool } = await freshDatabase(baseDatabaseUrl, dbName);
  await design.prepare?.();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...settings.latencies,
    DATABASE_URL: url,
    PORT: String(port),
    TEMPORAL_ADDRESS: temporal?.address,
    TEMPORAL_TASK_QUEUE: `bench-${design.key}-${name}-${Date.now()}`,
    WORKFLOW_BUNDLE_PATH: workflowBundlePath,
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const processes = design.processes().map((p) => launch(`${design.key}-${name}-${p.name}`, p.entry, { ...env, ...p.env }, logDir));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${baseUrl}/healthz`, 60_000, processes);
    // One order end to end before measuring: the worker is polling, the JIT is warm.
    const warm = await postOrders(baseUrl, 1, 1, orderBody(false));
    if (!design.answersWhenDone) await drain(pool, warm.accepted, 60_000);
    const result = await body({ baseUrl, pool, processes });
    const peakRssMb = processes.reduce((sum, p) => sum + p.peakRssMb, 0);
    return { result, peakRssMb };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await pool.end();
    await dropDatabase(baseDatabaseUrl, dbName);
  }
}

/** Waits until every accepted order is terminal, or the timeout; returns what finished. */
async function drain(pool: pg.Pool, accepted: Accepted[], timeoutMs: number): Promise<Map<string, FinalState>> {
  const done = new Map<string, FinalState>();
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  while (done.size < accepted.length && Date.now() < deadline) {
    const pending = accepted.filter((a) => !done.has(a.orderId)).map((a) => a.orderId);
    for (let i = 0; i < pending.length; i += 5000) {
      for (const [id, state] of await terminalOrders(pool, pending.slice(i, i + 5000))) done.set(id, state);
    }
    if (Date.now() - lastReport > 5000) {
      log(`  draining: ${done.size}/${accepted.length} orders final`);
      lastReport = Date.now();
    }
    if (done.size < accepted.length) await new Promise((r) => setTimeout(r, 250));
  }
  return done;
}

function finalTimes(design: Design, load: LoadResult, finals: Map<string, FinalState>) {
  const terminalMs: number[] = [];
  let completed = 0;
  let firstSent = Infinity;
  let lastFinal = 0;
  for (const a of load.accepted) {
    firstSent = Math.min(firstSent, a.sentAt);
    const final = design.answersWhenDone ? { status: 'COMPLETED', atMs: a.answeredAt } : finals.get(a.orderId);
    if (!final) continue;
    terminalMs.push(Math.max(0, final.atMs - a.sentAt));
    lastFinal = Math.max(lastFinal, final.atMs);
    if (final.status === 'COMPLETED') completed++;
  }
  return {
    terminalP50Ms: percentile(terminalMs, 50),
    terminalP99Ms: percentile(terminalMs, 99),
    completed,
    notFinal: load.accepted.length - terminalMs.length,
    completedPerSec: completed / Math.max(0.001, (lastFinal - firstSent) / 1000),
  };
}

async function benchDesign(design: Design) {
  log(`${design.label}: steady load, ${settings.steady.rate} orders/s for ${settings.steady.seconds} s`);
  const steady = await phase(design, 'steady', {}, async ({ baseUrl, pool }) => {
    const load = await postOrders(baseUrl, settings.steady.rate, settings.steady.seconds, orderBody(false));
    log(`  accepted ${load.accepted.length}/${load.sent}, accept p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms`);
    const finals = design.answersWhenDone ? new Map() : await drain(pool, load.accepted, settings.drainTimeoutSec * 1000);
    const times = finalTimes(design, load, finals);
    log(`  completed ${times.completed}, ${times.completedPerSec.toFixed(1)}/s; submit→final p50 ${times.terminalP50Ms} ms, p99 ${times.terminalP99Ms} ms`);
    return { load: { ...load, accepted: undefined }, ...times };
  });

  log(`${design.label}: ramp ${settings.ramp.rates.join(', ')} orders/s, ${settings.ramp.seconds} s each`);
  const ramp = await phase(design, 'ramp', {}, async ({ baseUrl }) => {
    const steps: Array<Omit<LoadResult, 'accepted'> & { sustained: boolean }> = [];
    for (const rate of settings.ramp.rates) {
      const { accepted: _a, ...load } = await postOrders(baseUrl, rate, settings.ramp.seconds, orderBody(false));
      const sustained = load.p99Ms < 100 && load.errors === 0 && load.achievedRps >= 0.95 * rate;
      steps.push({ ...load, sustained });
      log(`  ${rate}/s: achieved ${load.achievedRps.toFixed(0)}/s, p99 ${load.p99Ms} ms, errors ${load.errors}${sustained ? '' : ' (not sustained)'}`);
      if (!sustained) break;
    }
    return steps;
  });

  const f = settings.failures;
  log(`${design.label}: failure mix (${f.outOfStock * 100}% out of stock, ${f.declined * 100}% declined, ${f.paymentFailureRate * 100}% transient payment errors), ${f.rate}/s for ${f.seconds} s`);
  const failures = await phase(design, 'failures', { PAYMENT_FAILURE_RATE: String(f.paymentFailureRate) }, async ({ baseUrl, pool }) => {
    const load = await postOrders(baseUrl, f.rate, f.seconds, orderBody(true));
    if (!design.answersWhenDone) await drain(pool, load.accepted, settings.drainTimeoutSec * 1000);
    const violations = await findViolations(pool);
    log(`  violations: ${JSON.stringify(violations)}`);
    return { sent: load.sent, accepted: load.accepted.length, errors: load.errors, violations };
  });

  const metrics: DesignMetrics = {
    acceptP50Ms: steady.result.load.p50Ms,
    acceptP99Ms: steady.result.load.p99Ms,
    maxSustainedRps: Math.max(0, ...ramp.result.filter((s) => s.sustained).map((s) => s.offeredRps)),
    terminalP50Ms: steady.result.terminalP50Ms,
    terminalP99Ms: steady.result.terminalP99Ms,
    completedPerSec: Number(steady.result.completedPerSec.toFixed(1)),
    errors: steady.result.load.errors + steady.result.notFinal,
    violations: countViolations(failures.result.violations),
    peakRssMb: Math.max(steady.peakRssMb, ramp.peakRssMb, failures.peakRssMb),
  };
  return { metrics, details: { steady: steady.result, ramp: ramp.result, failures: failures.result } };
}

async function machineInfo() {
  const client = new pg.Client({ connectionString: baseDatabaseUrl.replace(/\/[^/]*$/, '/postgres') });
  await client.connect();
  const postgres = String((await client.query('SHOW server_version')).rows[0].server_version);
  await client.end();
  const connection = await amqp.connect(RABBITMQ_URL);
  const rabbitmq = String(connection.connection.serverProperties.version ?? 'unknown');
  await connection.close();
  const cli = ensureTool(TEMPORAL_CLI);
  return {
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: `PostgreSQL ${postgres}`,
    rabbitmq: `RabbitMQ ${rabbitmq}`,
    temporal: execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim(),
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  mkdirSync(logDir, { recursive: true });
  log(`mode: ${args.quick ? 'quick' : 'full'}; designs: ${designKeys.join(', ')}`);
  const machine = await machineInfo().catch((err: unknown) => {
    throw new Error(
      `${(err as Error).message}\nThe benchmark needs PostgreSQL (DATABASE_URL) and RabbitMQ (RABBITMQ_URL, default ${RABBITMQ_URL}); ` +
        'start RabbitMQ with `rabbitmq-server -detached`.',
    );
  });
  log(`machine: ${machine.cpuModel} × ${machine.cpus}, ${machine.memoryGiB} GiB`);

  if (designKeys.includes('temporal')) {
    const dbFile = path.join(PROJECT_ROOT, '.data', 'bench', 'temporal.db');
    rmSync(path.dirname(dbFile), { recursive: true, force: true });
    mkdirSync(path.dirname(dbFile), { recursive: true });
    log(`starting a Temporal dev server for the benchmark (store: ${args['temporal-db']})`);
    temporal = await startDevServer({
      cli: ensureTool(TEMPORAL_CLI),
      port: await freePort(),
      uiPort: null,
      dbFile: args['temporal-db'] === 'memory' ? undefined : dbFile,
      dynamicConfig: process.env.BENCH_DC ? JSON.parse(process.env.BENCH_DC) : undefined,
      stdio: 'ignore',
    });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
    workflowBundlePath = path.join(PROJECT_ROOT, '.data', 'bench', 'workflow-bundle.js');
    writeFileSync(workflowBundlePath, code);
  }

  const designs = {} as Record<DesignKey, DesignMetrics>;
  const details: Record<string, unknown> = {};
  try {
    for (const key of designKeys) {
      const { metrics, details: d } = await benchDesign(DESIGNS[key]);
      designs[key] = metrics;
      details[key] = d;
    }
  } finally {
    await temporal?.stop();
  }

  const ratios: Record<string, number> = {};
  if (designs.sync && designs.temporal) ratios['sync accept p50 / temporal accept p50'] = designs.sync.acceptP50Ms / designs.temporal.acceptP50Ms;
  if (designs.rabbitmq && designs.temporal) {
    ratios['temporal completed/s / rabbitmq completed/s'] = designs.temporal.completedPerSec / designs.rabbitmq.completedPerSec;
    ratios['temporal accept p99 / rabbitmq accept p99'] = designs.temporal.acceptP99Ms / designs.rabbitmq.acceptP99Ms;
  }
  const report: BenchReport = {
    machine,
    settings: { mode: args.quick ? 'quick' : 'full', temporalDb: args['temporal-db'], ...settings },
    designs,
    details,
    ratios,
    startedAt: startedAt.toISOString(),
    durationSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
  };
  const jsonPath = path.resolve(args.out ?? path.join(resultsDir, 'latest.json'));
  mkdirSync(path.dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  const base = jsonPath.replace(/\.json$/, '');
  writeFileSync(`${base}.md`, markdownReport(report, designKeys));
  writeFileSync(`${base}.svg`, svgChart(report, designKeys));
  console.log(`\n${markdownReport(report, designKeys)}`);
  log(`wrote ${jsonPath}, ${base}.md and ${base}.svg in ${report.durationSec} s`);
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  await temporal?.stop();
  process.exit(1);
});
