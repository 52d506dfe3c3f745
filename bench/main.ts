import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../dev/embedded-postgres';
import { PROJECT_ROOT } from '../lib/paths';
import { TEMPORAL_CLI, ensureTool } from '../dev/temporal-cli';
import { startDevServer, type DevServer } from '../dev/temporal-dev-server';
import { writeWorkflowBundle } from '../worker/workflow-bundle';
import { freePort } from '../dev/free-port';
import { localStackEnv } from '../lib/temporal/client-config';
import { cpuPerOrder, cpuSnapshot, type CpuSnapshot } from './cpu';
import { finalsFromFile } from './final-file';
import { paymentIdempotencyKey } from '../providers/payment-provider';
import { isSlowCharge } from '../providers/simulated-payment-provider';
import { monotonicMicros, profileMarkdown, summariseProfiles, type ProfileSummary } from './profile-summary';
import { BENCH_PRODUCTS, countViolations, dropDatabase, findViolations, freshDatabase, slowCharges, terminalOrders, type FinalState, type FloorViolations } from './database';
import { DESIGNS, TEMPORAL_ACCEPT_ONLY, TEMPORAL_COMBINED, TEMPORAL_WORKER_NICED, type Design, type DesignKey } from './designs';
import { RABBITMQ_URL } from './designs/rabbitmq/topology';
import { percentile, postOrders, type Accepted, type LoadResult } from './load';
import { launch, waitForDesign, type Launched } from './processes';
import { markdownReport, svgChart, type BenchReport, type CostTarget, type DesignMetrics } from './report';
import { completedOrderCost, heartbeatRequests, type TemporalCost } from './temporal-cost';

/**
 * `npm run bench [-- --quick] [--out FILE] [--designs sync,rabbitmq,temporal,temporalFloor]`
 * (`--tune`, or `--light-only [--profile]` for the light phase alone)
 *
 * Runs the same load against the designs on this machine, one after the other,
 * with the same simulated latencies and the same domain code, and reports each
 * design's figures side by side, with this service's cost against Temporal's own
 * floor (temporalFloor). Every phase of every design gets a fresh database and
 * freshly started processes. See docs/benchmarks.md.
 */

/**
 * `light` must stay below every design's capacity: it measures the accept
 * latency of a design that is not queueing, and the CPU cost of one order. The
 * Temporal design spends 85 to 100 ms of CPU per order on the 2-core machine
 * of docs/benchmarks.md, so 20/s kept its cores 87 % busy; 10/s, about half.
 */
/**
 * The failure mix's cancels and slow provider calls. The cancel delay covers, at
 * the benchmark's latencies (inventory 200 ms, payment 300 ms), an order that is
 * PENDING, RESERVED, being charged and already complete. A slow charge takes
 * longer than the payment step's 3 s heartbeat timeout (workflows/activity-options.ts),
 * so only a step that keeps heartbeating through a long call survives it.
 */
const SLOW_AND_CANCELS = { cancelShare: 0.05, cancelMaxDelayMs: 1500, paymentSlowRate: 0.01, paymentSlowMs: 4000 };

/** The offered rate at which the Temporal design's accept p99 is held to 50 ms, with its worker running. */
const ACCEPT_TARGET_RATE = 40;

/** How long the light phase first watches the idle processes, for their fixed cost. */
const IDLE_WINDOW_MS = 3000;

const SETTINGS = {
  quick: {
    latencies: { INVENTORY_LATENCY_MS: '200', PAYMENT_LATENCY_MS: '300', NOTIFY_LATENCY_MS: '150' },
    steady: { rate: 200, seconds: 4 },
    light: { rate: 10, seconds: 8 },
    warmUpSec: 3,
    ramp: { rates: [10, 20, 30, 40, 50, 100, 200, 400], seconds: 2 },
    failures: { rate: 50, seconds: 3, outOfStock: 0.1, declined: 0.1, paymentFailureRate: 0.05, ...SLOW_AND_CANCELS },
    drainTimeoutSec: 45,
  },
  full: {
    latencies: { INVENTORY_LATENCY_MS: '200', PAYMENT_LATENCY_MS: '300', NOTIFY_LATENCY_MS: '150' },
    steady: { rate: 200, seconds: 30 },
    light: { rate: 10, seconds: 30 },
    warmUpSec: 10,
    ramp: { rates: [10, 20, 30, 40, 50, 100, 200, 300, 400, 600, 800], seconds: 10 },
    failures: { rate: 100, seconds: 20, outOfStock: 0.1, declined: 0.1, paymentFailureRate: 0.05, ...SLOW_AND_CANCELS },
    drainTimeoutSec: 300,
  },
};
type Settings = (typeof SETTINGS)['full'];

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    designs: { type: 'string', default: 'sync,rabbitmq,temporal,temporalFloor' },
    // The dev server's store: `wal` is what npm start runs (SQLite file, WAL
    // pragmas), `file` the same file with SQLite's default pragmas, `memory` no file.
    'temporal-db': { type: 'string', default: 'wal' },
    // Measure the tuning knobs on the Temporal design instead of comparing designs.
    tune: { type: 'boolean', default: false },
    // CPU-profile every process of the light phase (bench/profile-summary.ts).
    profile: { type: 'boolean', default: false },
    // Only the light phase of each design, logged, no report: a quick loop for --profile.
    'light-only': { type: 'boolean', default: false },
  },
});
const settings: Settings = args.quick ? SETTINGS.quick : SETTINGS.full;
// The profiler's own cost grows with the JavaScript a process runs, so profiled figures would skew the ratios.
if (args.profile && !args['light-only']) throw new Error('--profile works with --light-only only: profiling changes the CPU figures a report compares');
const designKeys = args.designs!.split(',').map((s) => s.trim()) as DesignKey[];
// DATABASE_URL's server, else an embedded one started in main() (as npm start does).
let baseDatabaseUrl = process.env.DATABASE_URL ?? '';
let embeddedDatabase: EmbeddedPostgres | undefined;
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

/** Which of the given orders are final, and since when. */
type FinalsSource = (ids: string[]) => Promise<Map<string, FinalState>>;

interface PhaseContext {
  baseUrl: string;
  finals: FinalsSource;
  /** The environment the design's processes were started with. */
  env: NodeJS.ProcessEnv;
  pool: pg.Pool;
  processes: Launched[];
  /** CPU time so far of each of the design's processes, the dev server and the shared services. */
  cpu(): CpuSnapshot;
}

let temporal: DevServer | undefined;
let temporalMetricsUrl = '';
let workflowBundlePath = '';

/** Settings of the dev server itself that a tuning row changes. */
interface DevServerKnobs {
  dynamicConfig?: Record<string, string | number | boolean>;
  env?: NodeJS.ProcessEnv;
}

/** A fresh dev server for the benchmark; `store` as in --temporal-db. */
async function startTemporal(store: string, knobs: DevServerKnobs = {}): Promise<void> {
  await temporal?.stop();
  const dbFile = path.join(PROJECT_ROOT, '.data', 'bench', 'temporal.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbFile}${suffix}`, { force: true });
  log(`starting a Temporal dev server for the benchmark (store: ${store})`);
  const metricsPort = await freePort();
  temporalMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  temporal = await startDevServer({
    ...knobs,
    metricsPort,
    cli: ensureTool(TEMPORAL_CLI),
    port: await freePort(),
    uiPort: null,
    dbFile: store === 'memory' ? undefined : dbFile,
    sqlitePragmas: store === 'file' ? [] : undefined,
    stdio: 'ignore',
  });
}

/** Where --profile has the light phase's processes write their V8 CPU profiles. */
const profileDirOf = (design: Design, p: { name: string }) => path.join(resultsDir, 'profiles', `${design.key}-${p.name}`);

/** Fresh database, fresh processes, warm-up order, then `body`; always cleans up. */
async function phase<T>(design: Design, name: string, extraEnv: NodeJS.ProcessEnv, body: (ctx: PhaseContext) => Promise<T>, warmUpSec = 0) {
  const dbName = `orders_bench_${design.key}_${name}`;
  const { url, pool } = await freshDatabase(baseDatabaseUrl, dbName);
  const finalFile = path.join(PROJECT_ROOT, '.data', 'bench', `${dbName}.finals`);
  rmSync(finalFile, { force: true });
  const finals: FinalsSource = design.finals === 'final-file' ? finalsFromFile(finalFile) : (ids) => terminalOrders(pool, ids);
  await design.prepare?.();
  // A fresh dev server too: its SQLite file grows with every run it keeps, and
  // workflows a phase left running (started by requests that timed out) must
  // not share the CPU with the next phase.
  if (design.usesTemporal && !args.tune) await startTemporal(args['temporal-db']!);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...localStackEnv(process.env),
    ...settings.latencies,
    DATABASE_URL: url,
    PORT: String(port),
    // A shell's tracing endpoint would trace the real design and not the floor.
    OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    // Only the Temporal designs talk to the dev server; the baselines get no address.
    TEMPORAL_ADDRESS: design.usesTemporal ? temporal?.address : undefined,
    TEMPORAL_TASK_QUEUE: `bench-${design.key}-${name}-${Date.now()}`,
    WORKFLOW_BUNDLE_PATH: workflowBundlePath,
    LOG_LEVEL: 'warn',
    // All the offered load comes from this one address: a per-caller limit would measure the limiter, not the design.
    RATE_LIMIT_PER_MINUTE: process.env.RATE_LIMIT_PER_MINUTE ?? '0',
    // The worker's Prometheus endpoint is off: its fixed port would collide with an `npm start` on the machine.
    WORKER_METRICS_PORT: process.env.WORKER_METRICS_PORT ?? '0',
    // The worker's build takes the orders (Worker Versioning), as under npm start.
    WORKER_SET_CURRENT: '1',
    FLOOR_FINAL_FILE: finalFile,
    ...extraEnv,
  };
  const specs = design.processes();
  // --profile: a V8 CPU profile of each process of the light phase (one file per thread), summarised after it.
  const profileDir = (p: { name: string }) => profileDirOf(design, p);
  const profiling = args.profile && name === 'light';
  if (profiling) for (const p of specs) rmSync(profileDir(p), { recursive: true, force: true });
  const processes = specs.map((p) =>
    launch(`${design.key}-${name}-${p.name}`, p.entry, { ...env, ...p.env }, logDir, profiling ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(p)}`] : []),
  );
  specs.forEach((spec, i) => {
    if (spec.nice !== undefined && processes[i]!.child.pid !== undefined) os.setPriority(processes[i]!.child.pid!, spec.nice);
  });
  const pids: Record<string, number | undefined> = Object.fromEntries(specs.map((p, i) => [p.name, processes[i]!.child.pid]));
  if (design.usesTemporal) pids['temporal dev server'] = temporal?.child.pid;
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForDesign(`${baseUrl}/healthz`, 60_000, processes);
    // Orders end to end before measuring: the worker is polling, the JIT is warm. The
    // light phase warms up for longer: its first orders would otherwise carry each
    // process's one-time compilation into the cost of an order.
    const warm = warmUpSec > 0 ? await postOrders(baseUrl, settings.light.rate, warmUpSec, orderBody(false)) : await postOrders(baseUrl, 1, 1, orderBody(false));
    await drain(design, finals, warm.accepted, 60_000);
    const result = await body({ baseUrl, finals, env, pool, processes, cpu: () => cpuSnapshot(pids) });
    const peakRssMb = processes.reduce((sum, p) => sum + p.peakRssMb, 0);
    return { result, peakRssMb };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await pool.end();
    await dropDatabase(baseDatabaseUrl, dbName);
    rmSync(finalFile, { force: true });
  }
}

/**
 * Waits until every accepted order is terminal, or the timeout; returns what
 * finished. Nothing to wait for when the design's answer is already final, or
 * when nothing processes its orders (the accept-only tuning variant).
 */
async function drain(
  design: Design,
  finals: FinalsSource,
  accepted: Accepted[],
  timeoutMs = settings.drainTimeoutSec * 1000,
): Promise<Map<string, FinalState>> {
  const done = new Map<string, FinalState>();
  if (design.answersWhenDone || design.acceptOnly) return done;
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  while (done.size < accepted.length && Date.now() < deadline) {
    const pending = accepted.filter((a) => !done.has(a.orderId)).map((a) => a.orderId);
    for (let i = 0; i < pending.length; i += 5000) {
      for (const [id, state] of await finals(pending.slice(i, i + 5000))) done.set(id, state);
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
    terminalP50Ms: Math.round(percentile(terminalMs, 50)),
    terminalP99Ms: Math.round(percentile(terminalMs, 99)),
    completed,
    notFinal: load.accepted.length - terminalMs.length,
    completedPerSec: completed / Math.max(0.001, (lastFinal - firstSent) / 1000),
  };
}

/**
 * The light phase: below every design's capacity, so its CPU per order is the
 * cost of an order, not of a backlog. With --profile, also where each process's CPU went.
 */
async function lightPhase(design: Design) {
  log(`${design.label}: light load, ${settings.light.rate} orders/s for ${settings.light.seconds} s`);
  const light = await phase(design, 'light', {}, async ({ baseUrl, finals: finalsOf, cpu, env }) => {
    const usesTemporal = design.usesTemporal === true && temporal !== undefined;
    const heartbeatsBefore = usesTemporal ? await heartbeatRequests(temporalMetricsUrl) : 0;
    // The processes' CPU with nothing to do, per second: the part of the per-order figure that is a fixed cost.
    const idleFrom = cpu();
    await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
    const idleCpuMsPerSec = cpuPerOrder(idleFrom, cpu(), IDLE_WINDOW_MS / 1000);
    const window = { fromUs: monotonicMicros(), toUs: 0 };
    const before = cpu();
    const load = await postOrders(baseUrl, settings.light.rate, settings.light.seconds, orderBody(false));
    const finals = await drain(design, finalsOf, load.accepted);
    window.toUs = monotonicMicros();
    const after = cpu();
    // Below every design's capacity, so this is the cost of an order, not of a backlog.
    const cpuMsPerOrder = cpuPerOrder(before, after, load.accepted.length);
    // The same less what each process spends idle over as long a window: the marginal cost of an order.
    const windowSec = (window.toUs - window.fromUs) / 1e6;
    const beforePlusIdle = Object.fromEntries(Object.keys(after).map((n) => [n, (before[n] ?? 0) + (idleCpuMsPerSec[n] ?? 0) * windowSec]));
    const cpuMsPerOrderNetOfIdle = cpuPerOrder(beforePlusIdle, after, load.accepted.length);
    const times = finalTimes(design, load, finals);
    log(`  accept p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms; submit→final p50 ${times.terminalP50Ms} ms, p99 ${times.terminalP99Ms} ms`);
    log(`  CPU ms per order: ${JSON.stringify(cpuMsPerOrder)}; idle CPU ms per second: ${JSON.stringify(idleCpuMsPerSec)}`);
    let temporalCost: TemporalCost | undefined;
    if (usesTemporal) {
      const completed = load.accepted.filter((a) => finals.get(a.orderId)?.status === 'COMPLETED').map((a) => a.orderId);
      const cost = await completedOrderCost(temporal!.address, env.TEMPORAL_NAMESPACE ?? 'default', completed);
      // Every order of this phase completes (no failure mix), so heartbeats divide by all of them.
      const heartbeatsPerOrder = ((await heartbeatRequests(temporalMetricsUrl)) - heartbeatsBefore) / Math.max(1, load.accepted.length);
      temporalCost = { ...cost, heartbeatsPerOrder };
      log(
        `  per completed order: ${cost.actions.toFixed(2)} actions + ${heartbeatsPerOrder.toFixed(2)} heartbeats, ` +
          `${cost.events.toFixed(1)} history events, ${cost.workflowTasks.toFixed(2)} workflow tasks (${cost.sampled} histories)`,
      );
    }
    return { load: { ...load, accepted: undefined }, ...times, cpuMsPerOrder, cpuMsPerOrderNetOfIdle, idleCpuMsPerSec, temporalCost, profileWindow: window };
  }, settings.warmUpSec);

  if (args.profile) {
    // Written as each process exited, at the end of the phase.
    const profiles: Record<string, ProfileSummary> = {};
    for (const spec of design.processes()) {
      profiles[spec.name] = summariseProfiles(profileDirOf(design, spec), light.result.profileWindow);
      log(profileMarkdown(spec.name, profiles[spec.name]!, light.result.load.sent - light.result.load.errors));
    }
    Object.assign(light.result, { profiles });
  }
  return light;
}

async function benchDesign(design: Design) {
  log(`${design.label}: steady load, ${settings.steady.rate} orders/s for ${settings.steady.seconds} s`);
  const steady = await phase(design, 'steady', {}, async ({ baseUrl, finals }) => {
    const load = await postOrders(baseUrl, settings.steady.rate, settings.steady.seconds, orderBody(false));
    log(
      `  accepted ${load.accepted.length}/${load.sent}, accept p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms; ` +
        `shed at once (503 OVERLOADED) ${load.shed}, other errors ${JSON.stringify(load.errorsByStatus)}`,
    );
    const times = finalTimes(design, load, await drain(design, finals, load.accepted));
    log(`  completed ${times.completed}, ${times.completedPerSec.toFixed(1)}/s; submit→final p50 ${times.terminalP50Ms} ms, p99 ${times.terminalP99Ms} ms`);
    return { load: { ...load, accepted: undefined }, ...times };
  });

  const light = await lightPhase(design);

  log(`${design.label}: ramp ${settings.ramp.rates.join(', ')} orders/s, ${settings.ramp.seconds} s each`);
  const ramp = await phase(design, 'ramp', {}, async ({ baseUrl }) => {
    const steps: Array<Omit<LoadResult, 'accepted'> & { sustained: boolean }> = [];
    for (const rate of settings.ramp.rates) {
      const { accepted: _a, ...load } = await postOrders(baseUrl, rate, settings.ramp.seconds, orderBody(false));
      const sustained = load.p99Ms < 100 && load.errors === 0 && load.achievedRps >= 0.95 * rate;
      steps.push({ ...load, sustained });
      log(`  ${rate}/s: achieved ${load.achievedRps.toFixed(0)}/s, p99 ${load.p99Ms} ms, errors ${load.errors}${sustained ? '' : ' (not sustained)'}`);
      // Past the first unsustained rate the rest only queue; 40/s is measured regardless (its accept p99 is a target).
      if (!sustained && rate >= ACCEPT_TARGET_RATE) break;
    }
    return steps;
  });

  const f = settings.failures;
  // Only this service has a cancel route; the baselines, like the designs they
  // stand for, have no way to cancel, so they are sent none.
  const cancelMix = design.cancels ? { share: f.cancelShare, maxDelayMs: f.cancelMaxDelayMs } : undefined;
  log(
    `${design.label}: failure mix (${f.outOfStock * 100}% out of stock, ${f.declined * 100}% declined, ` +
      `${f.paymentFailureRate * 100}% transient payment errors, ${f.paymentSlowRate * 100}% payments slowed to ${f.paymentSlowMs} ms, ` +
      `${cancelMix ? `${f.cancelShare * 100}% cancelled 0-${f.cancelMaxDelayMs} ms after the 202` : 'no cancels: no cancel route'}), ` +
      `${f.rate}/s for ${f.seconds} s`,
  );
  const failureEnv = {
    PAYMENT_FAILURE_RATE: String(f.paymentFailureRate),
    PAYMENT_SLOW_RATE: String(f.paymentSlowRate),
    PAYMENT_SLOW_MS: String(f.paymentSlowMs),
  };
  const failures = await phase(design, 'failures', failureEnv, async ({ baseUrl, pool, finals }) => {
    const load = await postOrders(baseUrl, f.rate, f.seconds, orderBody(true), cancelMix);
    const done = await drain(design, finals, load.accepted);
    const cancelAccepted = load.cancels.filter((c) => c.status === 202).map((c) => c.orderId);
    // The floor keeps no stock or money, and its declined and out-of-stock orders complete (its
    // activities do nothing), so the one invariant it can break is an order that never ends.
    const violations =
      design.finals === 'final-file'
        ? ({ neverTerminal: load.accepted.length - done.size, checked: 'neverTerminal only' } satisfies FloorViolations)
        : await findViolations(pool, cancelAccepted);
    const cancels = {
      sent: load.cancels.length,
      byStatus: tally(load.cancels.map((c) => String(c.status))),
      acceptedIn: tally(load.cancels.flatMap((c) => (c.acceptedIn ? [c.acceptedIn] : []))),
      attempts: load.cancels,
    };
    // The floor has no provider ledger: its slow payments are picked by the same rule, from the ids.
    const slowPayments =
      design.finals === 'final-file'
        ? load.accepted.filter((a) => f.paymentSlowRate > 0 && isSlowCharge(paymentIdempotencyKey({ orderId: a.orderId, attempt: 1 }), f.paymentSlowRate)).length
        : await slowCharges(pool, f.paymentSlowRate);
    log(`  cancels: ${cancels.sent} sent, by status ${JSON.stringify(cancels.byStatus)}, accepted in ${JSON.stringify(cancels.acceptedIn)}; slow payments: ${slowPayments}`);
    log(`  violations: ${JSON.stringify(violations)}`);
    return { sent: load.sent, accepted: load.accepted.length, errors: load.errors, violations, cancels, slowPayments };
  });

  const metrics: DesignMetrics = {
    acceptP50Ms: steady.result.load.p50Ms,
    acceptP99Ms: steady.result.load.p99Ms,
    maxSustainedRps: highestSustained(ramp.result),
    terminalP50Ms: steady.result.terminalP50Ms,
    terminalP99Ms: steady.result.terminalP99Ms,
    completedPerSec: Number(steady.result.completedPerSec.toFixed(1)),
    errors: steady.result.load.errors + steady.result.notFinal,
    violations: countViolations(failures.result.violations),
    peakRssMb: Math.max(steady.peakRssMb, ramp.peakRssMb, failures.peakRssMb),
    cpuMsPerOrder: light.result.cpuMsPerOrder.total!,
    shedShare: Number((steady.result.load.shed / Math.max(1, steady.result.load.sent)).toFixed(3)),
    acceptP99MsAt40: ramp.result.find((s) => s.offeredRps === ACCEPT_TARGET_RATE)?.p99Ms,
    ...temporalCostFigures(light.result.temporalCost),
  };
  return { metrics, details: { steady: steady.result, light: light.result, ramp: ramp.result, failures: failures.result } };
}

/** CPU ms per order of each process at the light rate (details.<design>.light.cpuMsPerOrder, or its net-of-idle twin). */
function lightCpu(details: Record<string, unknown>, key: DesignKey, netOfIdle = false): Record<string, number> {
  const light = (details[key] as { light: { cpuMsPerOrder: Record<string, number>; cpuMsPerOrderNetOfIdle: Record<string, number> } }).light;
  return netOfIdle ? light.cpuMsPerOrderNetOfIdle : light.cpuMsPerOrder;
}

/**
 * The service's CPU per order over its floor's, measured side by side in this
 * run: what our own code costs on top of Temporal. Also net of each process's
 * idle CPU, which both designs pay whatever the load and which pulls the plain
 * ratios towards 1.
 */
function floorRatios(details: Record<string, unknown>): Record<string, number> {
  const ratios: Record<string, number> = {};
  for (const netOfIdle of [false, true]) {
    const ours = lightCpu(details, 'temporal', netOfIdle);
    const floor = lightCpu(details, 'temporalFloor', netOfIdle);
    const ratio = (a: number | undefined, b: number | undefined) => (a ?? NaN) / (b ?? NaN);
    const suffix = netOfIdle ? ', net of idle' : '';
    ratios[`temporal CPU per order / floor CPU per order${suffix}`] = ratio(ours.total, floor.total);
    ratios[`temporal worker CPU per order / floor worker CPU per order${suffix}`] = ratio(ours['temporal-worker'], floor['floor-worker']);
    ratios[`temporal dev-server CPU per order / floor dev-server CPU per order${suffix}`] = ratio(ours['temporal dev server'], floor['temporal dev server']);
  }
  return ratios;
}

/**
 * The floor stands for the saga's shape only while a completed order costs the
 * server the same in both: a ratio against a floor of another shape means nothing.
 */
function floorShapeMatches(designs: Record<DesignKey, DesignMetrics>): boolean {
  const { temporal: ours, temporalFloor: floor } = designs;
  return (
    ours.historyEventsPerOrder === floor.historyEventsPerOrder &&
    ours.workflowTasksPerOrder === floor.workflowTasksPerOrder &&
    ours.actionsPerOrder === floor.actionsPerOrder
  );
}

/** The cost targets of docs/benchmarks.md ("Cost against Temporal's floor"), each with this run's figure. */
function costTargets(designs: Record<DesignKey, DesignMetrics>, details: Record<string, unknown>): CostTarget[] {
  const ours = lightCpu(details, 'temporal');
  const targets: CostTarget[] = [];
  const add = (name: string, measured: number | undefined, atMost: number) => {
    if (measured === undefined || !Number.isFinite(measured)) return;
    const value = Number(measured.toFixed(2));
    targets.push({ name, value, atMost, met: value <= atMost });
  };
  if (designs.temporalFloor && floorShapeMatches(designs)) {
    const ratios = floorRatios(details);
    add('worker CPU per order / floor worker', ratios['temporal worker CPU per order / floor worker CPU per order'], 1.3);
    add('dev-server CPU per order / floor dev server', ratios['temporal dev-server CPU per order / floor dev-server CPU per order'], 1.05);
  }
  add('API CPU per accepted order (ms)', ours['temporal-api'], 4);
  add('Temporal actions per completed order', designs.temporal.actionsPerOrder, 4);
  return targets;
}

/** The highest offered rate of an unbroken run of sustained ramp steps from the lowest. */
function highestSustained(steps: Array<{ offeredRps: number; sustained: boolean }>): number {
  let highest = 0;
  for (const step of steps) {
    if (!step.sustained) break;
    highest = step.offeredRps;
  }
  return highest;
}

/** The per-order figures of TemporalCost that the report's table shows (rounded), or nothing for a baseline. */
function temporalCostFigures(cost: TemporalCost | undefined): Partial<DesignMetrics> {
  if (!cost) return {};
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    actionsPerOrder: round(cost.actions + cost.heartbeatsPerOrder),
    historyEventsPerOrder: round(cost.events),
    workflowTasksPerOrder: round(cost.workflowTasks),
    actionsByKind: { ...Object.fromEntries(Object.entries(cost.actionsByKind).map(([k, v]) => [k, round(v)])), heartbeats: round(cost.heartbeatsPerOrder) },
  };
}

/** How often each value occurs. */
function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/**
 * Each tuning knob against the same baseline: the Temporal design's steady
 * phase at a rate it can sustain, so completion figures are not capped by a
 * backlog, and at the 200/s of the target, for accept latency.
 */
const TUNING_VARIANTS: Array<{ name: string; store: string; env: NodeJS.ProcessEnv; design?: Design; server?: DevServerKnobs }> = [
  { name: 'baseline (WAL file, pool 30, SDK defaults)', store: 'wal', env: {} },
  // The dev server knobs. The first turns off a start-dev default that the project keeps (dev/temporal-dev-server.ts).
  {
    name: 'dev server: forceSearchAttributesCacheRefreshOnRead=false (start-dev: true)',
    store: 'wal',
    env: {},
    server: { dynamicConfig: { 'system.forceSearchAttributesCacheRefreshOnRead': false } },
  },
  {
    name: 'dev server: enableActivityEagerExecution=true (default false)',
    store: 'wal',
    env: {},
    server: { dynamicConfig: { 'system.enableActivityEagerExecution': true } },
  },
  { name: 'dev server: GOGC=200 (Go default 100)', store: 'wal', env: {}, server: { env: { GOGC: '200' } } },
  { name: 'dev server: GOGC=400', store: 'wal', env: {}, server: { env: { GOGC: '400' } } },
  { name: 'dev server: SQLite default pragmas', store: 'file', env: {} },
  { name: 'dev server: SQLite in memory', store: 'memory', env: {} },
  { name: 'PG_POOL_SIZE=10', store: 'wal', env: { PG_POOL_SIZE: '10' } },
  { name: 'workflow task slots 10 (default 40)', store: 'wal', env: { WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '10' } },
  { name: 'activity slots 20 (default 100)', store: 'wal', env: { WORKER_MAX_CONCURRENT_ACTIVITIES: '20' } },
  { name: 'pollers 10 + 10 (default 5)', store: 'wal', env: { WORKER_WORKFLOW_TASK_POLLERS: '10', WORKER_ACTIVITY_TASK_POLLERS: '10' } },
  { name: 'worker at nice 10 (accepts first)', store: 'wal', env: {}, design: TEMPORAL_WORKER_NICED },
  { name: 'API and worker in one process', store: 'wal', env: {}, design: TEMPORAL_COMBINED },
  { name: 'one process + eager workflow start', store: 'wal', env: { EAGER_START: '1' }, design: TEMPORAL_COMBINED },
  // Not a knob: the accept path's own ceiling, with nothing processing orders.
  { name: 'API alone, no worker (accept path only)', store: 'wal', env: {}, design: TEMPORAL_ACCEPT_ONLY },
];

/** The largest consumers in a CPU-per-order breakdown, e.g. "temporal dev server 52, temporal-worker 31, …". */
function cpuSummary(perOrder: Record<string, number>): string {
  return Object.entries(perOrder)
    .filter(([name, ms]) => name !== 'total' && ms >= 1)
    .map(([name, ms]) => `${name} ${Math.round(ms)}`)
    .join(', ');
}

async function tune(machine: Record<string, unknown>, startedAt: Date): Promise<void> {
  const rates = args.quick ? { low: 20, high: 200, seconds: 5 } : { low: 20, high: 200, seconds: 15 };
  const rows: Array<Record<string, unknown>> = [];
  try {
    const only = process.env.BENCH_TUNE_ONLY; // a regular expression over variant names, to rerun some
    for (const variant of TUNING_VARIANTS.filter((v) => !only || new RegExp(only).test(v.name))) {
      const design = variant.design ?? DESIGNS.temporal;
      await startTemporal(variant.store, variant.server);
      log(`tuning: ${variant.name}`);
      const { result } = await phase(design, 'tune', variant.env, async (ctx) => {
        const before = ctx.cpu();
        const low = await postOrders(ctx.baseUrl, rates.low, rates.seconds, orderBody(false));
        const times = finalTimes(design, low, await drain(design, ctx.finals, low.accepted));
        const cpuMsPerOrder = cpuPerOrder(before, ctx.cpu(), low.accepted.length);
        const target = await postOrders(ctx.baseUrl, ACCEPT_TARGET_RATE, rates.seconds, orderBody(false));
        await drain(design, ctx.finals, target.accepted);
        const high = await postOrders(ctx.baseUrl, rates.high, rates.seconds, orderBody(false));
        // Completion capacity: the rate at which the high-rate backlog drains.
        const capacity = finalTimes(design, high, await drain(design, ctx.finals, high.accepted));
        const na = (n: number) => (design.acceptOnly ? 'n/a' : n);
        return {
          variant: variant.name,
          [`acceptP99Ms@${rates.low}`]: low.p99Ms,
          [`terminalP50Ms@${rates.low}`]: na(times.terminalP50Ms),
          [`acceptP99Ms@${ACCEPT_TARGET_RATE}`]: target.p99Ms,
          [`errors@${ACCEPT_TARGET_RATE}`]: target.errors,
          [`acceptP50Ms@${rates.high}`]: high.p50Ms,
          [`acceptP99Ms@${rates.high}`]: high.p99Ms,
          [`errors@${rates.high}`]: high.errors,
          completedPerSec: na(Number(capacity.completedPerSec.toFixed(1))),
          [`cpuMsPerOrder@${rates.low}`]: cpuMsPerOrder.total!,
          [`cpuBreakdown@${rates.low}`]: cpuSummary(cpuMsPerOrder),
        };
      });
      log(`  ${JSON.stringify(result)}`);
      rows.push(result);
    }
  } finally {
    await temporal?.stop();
  }
  const jsonPath = path.resolve(args.out ?? path.join(resultsDir, 'tuning.json'));
  writeFileSync(jsonPath, `${JSON.stringify({ machine, startedAt: startedAt.toISOString(), rates, rows }, null, 2)}\n`);
  const keys = Object.keys(rows[0] ?? {});
  const md = [`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${keys.map((k) => String(r[k])).join(' | ')} |`)].join('\n');
  writeFileSync(jsonPath.replace(/\.json$/, '.md'), `${md}\n`);
  console.log(`\n${md}`);
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
  if (!baseDatabaseUrl) {
    // Durable settings like npm start's, not the tests' fsync=off: the figures must hold for a real server.
    log('DATABASE_URL is unset: starting an embedded PostgreSQL (.data/bench/postgres)');
    embeddedDatabase = await startEmbeddedPostgres({
      dataDir: path.join(PROJECT_ROOT, '.data', 'bench', 'postgres'),
      logFile: path.join(PROJECT_ROOT, '.data', 'bench', 'postgres.log'),
      say: (line) => log(`  ${line}`),
    });
    baseDatabaseUrl = embeddedDatabase.url;
  }
  const machine = await machineInfo().catch((err: unknown) => {
    throw new Error(
      `${(err as Error).message}\nThe benchmark needs PostgreSQL (DATABASE_URL, or unset for an embedded one) and RabbitMQ (RABBITMQ_URL, default ${RABBITMQ_URL}); ` +
        'start RabbitMQ with `rabbitmq-server -detached`.',
    );
  });
  log(`machine: ${machine.cpuModel} × ${machine.cpus}, ${machine.memoryGiB} GiB`);

  if (designKeys.some((k) => DESIGNS[k].usesTemporal) || args.tune) {
    workflowBundlePath = path.join(PROJECT_ROOT, '.data', 'bench', 'workflow-bundle.js');
    await writeWorkflowBundle(workflowBundlePath);
  }
  if (args.tune) {
    await tune(machine, startedAt);
    await embeddedDatabase?.stop();
    return;
  }

  if (args['light-only']) {
    // A quicker loop for tuning the cost of an order: the light phase alone, no report.
    try {
      for (const key of designKeys) await lightPhase(DESIGNS[key]);
    } finally {
      await temporal?.stop();
    }
    await embeddedDatabase?.stop();
    return;
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
  const lightP50 = (k: DesignKey) => (details[k] as { light: { load: LoadResult } }).light.load.p50Ms;
  if (designs.sync && designs.temporal) {
    ratios[`sync accept p50 / temporal accept p50 at ${settings.steady.rate}/s`] = designs.sync.acceptP50Ms / designs.temporal.acceptP50Ms;
    ratios[`sync accept p50 / temporal accept p50 at ${settings.light.rate}/s`] = lightP50('sync') / lightP50('temporal');
  }
  if (designs.rabbitmq && designs.temporal) {
    ratios['temporal completed/s / rabbitmq completed/s'] = designs.temporal.completedPerSec / designs.rabbitmq.completedPerSec;
    ratios['temporal accept p99 / rabbitmq accept p99'] = designs.temporal.acceptP99Ms / designs.rabbitmq.acceptP99Ms;
    ratios['temporal CPU per order / rabbitmq CPU per order'] = designs.temporal.cpuMsPerOrder / designs.rabbitmq.cpuMsPerOrder;
    ratios['temporal highest sustained rate / rabbitmq highest sustained rate'] = designs.temporal.maxSustainedRps / Math.max(1, designs.rabbitmq.maxSustainedRps);
  }
  const targets = designs.temporal ? costTargets(designs, details) : [];
  if (designs.temporal && designs.temporalFloor) {
    if (floorShapeMatches(designs)) Object.assign(ratios, floorRatios(details));
    else log('WARNING: the floor and the service differ in events, workflow tasks or actions per order: no floor ratios');
  }
  const report: BenchReport = {
    machine,
    targets,
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
  await embeddedDatabase?.stop();
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  await temporal?.stop();
  await embeddedDatabase?.stop();
  process.exit(1);
});
