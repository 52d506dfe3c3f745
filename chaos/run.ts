import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createPool, type Pool } from '../lib/db/pool';
import { checkRun } from './checks';
import { FaultInjector } from './faults';
import { Driver, chaosProducts } from './load';
import type { Profile } from './profiles';
import { seededRandom } from './random';
import { requestCounts, type ChaosReport } from './report';
import { replayRuns } from './replay';
import { formatSchedule, planFaults } from './schedule';
import { ChaosStack } from './stack';
import { countOpenWorkflows, readDatabase, readWorkflows } from './truth';

export interface ChaosOptions {
  profile: Profile;
  seed: number;
  /** Emptied at the start; holds the cluster, the Temporal file and the logs afterwards. */
  dir: string;
  say: (line: string) => void;
  progressEveryMs?: number;
  /** Called once the stack runs, so a Ctrl-C handler can stop it. */
  onStack?: (stack: ChaosStack) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One chaos run: start the stack, submit orders at a steady rate while the
 * planned faults hit it, wait for it to drain, then hold the driver's ledger
 * against PostgreSQL and Temporal.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const { profile, seed, say } = opts;
  const started = Date.now();
  const random = seededRandom(seed);
  const plan = planFaults(profile, random.fork());
  say(`seed ${seed}, ${profile.name} profile: ${Math.round(profile.rate * profile.loadSeconds)} orders at ${profile.rate}/s over ${profile.loadSeconds} s, ${plan.length} faults:`);
  for (const line of formatSchedule(plan)) say(line);

  rmSync(opts.dir, { recursive: true, force: true });
  const products = chaosProducts(profile);
  const stack = await ChaosStack.start({ dir: opts.dir, products, say });
  opts.onStack?.(stack);
  const pool = createPool(stack.databaseUrl, 3);
  try {
    const driver = new Driver(stack.baseUrl, pool, random.fork(), random.fork(), seed);
    const faults = new FaultInjector(stack, plan, say);
    const progress = setInterval(() => void progressLine(driver, faults, pool, started).then(say), opts.progressEveryMs ?? 5_000);
    const retrier = driver.retryUnavailable();
    say('stack up; submitting orders');
    faults.start();
    await driver.submit(profile.rate, profile.loadSeconds);
    await faults.done();
    say('all orders sent and every fault injected; waiting for the system to drain');
    const drained = await drain(driver, pool, stack.temporalAddress, profile.drainSeconds * 1000);
    say(drained ? 'drained' : `not drained after ${profile.drainSeconds} s; checking anyway`);
    retrier.stop();
    await driver.settled();
    clearInterval(progress);

    say('reading PostgreSQL and every workflow run from Temporal');
    const { runs, histories } = await readWorkflows(stack.temporalAddress);
    const truth = { ...(await readDatabase(pool)), runs };
    say(`replaying ${histories.size} run histories through the workflow bundle of build ${stack.version.buildId}`);
    const replay = await replayRuns(runs, histories, stack.bundlePath, stack.version);
    say(`replayed ${replay.replayed}, ${replay.failed} failed, ${replay.skipped} skipped, in ${(replay.ms / 1000).toFixed(1)} s`);
    // Not expected in a run of one build; said, so that a skip is never mistaken for a replay.
    const skipped = runs.flatMap((r) => (r.replay?.outcome === 'skipped' ? [`${r.workflowId}/${r.runId}: ${r.replay.reason}`] : []));
    for (const line of skipped.slice(0, 5)) say(`  not replayed: ${line}`);
    if (skipped.length > 5) say(`  and ${skipped.length - 5} more not replayed (truth.json names them)`);
    const initialStock = Object.fromEntries(products.map((p) => [p.id, p.stock]));
    const result = checkRun(driver.ledger, truth, initialStock);
    // Both sides of every check, for looking into a violation after the run.
    writeFileSync(path.join(opts.dir, 'ledger.json'), JSON.stringify(driver.ledger));
    writeFileSync(path.join(opts.dir, 'truth.json'), JSON.stringify(truth));
    return {
      orders: result.orders,
      faults: faults.counts,
      violations: result.violations,
      lost: result.lost,
      unfinished: result.unfinished,
      seconds: Math.round((Date.now() - started) / 1000),
      profile: profile.name,
      seed,
      requests: requestCounts(driver.ledger),
      unexpectedExits: { worker: stack.worker.unexpectedExits, api: stack.api.unexpectedExits },
      replay,
      examples: result.examples,
    };
  } finally {
    await pool.end();
    await stack.stop();
  }
}

/**
 * Until every order is final, no workflow runs, and the driver has nothing left
 * to send (answers it waits for, orders to retry), twice in a row.
 */
async function drain(driver: Driver, pool: Pool, temporalAddress: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quietPolls = 0;
  while (Date.now() < deadline) {
    await sleep(2_000);
    try {
      const open = (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')`)).rows[0]!.n;
      const running = await countOpenWorkflows(temporalAddress);
      quietPolls = open === 0 && running === 0 && driver.idle() ? quietPolls + 1 : 0;
    } catch {
      quietPolls = 0;
    }
    if (quietPolls >= 2) return true;
  }
  return false;
}

async function progressLine(driver: Driver, faults: FaultInjector, pool: Pool, started: number): Promise<string> {
  const q = requestCounts(driver.ledger);
  let terminal = '?';
  try {
    const res = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')`);
    terminal = String(res.rows[0]!.n);
  } catch {
    // PostgreSQL is down at this moment
  }
  const t = Math.round((Date.now() - started) / 1000);
  return (
    `t=${t}s  sent ${q.placed}  accepted ${q.accepted}  terminal ${terminal}  503s ${q.unavailable503}  unanswered ${q.unanswered}` +
    `  cancels ${q.cancelsAccepted}/${q.cancelsSent}  retries ${q.paymentRetriesAccepted}/${q.paymentRetriesSent}  faults ${faults.injected}`
  );
}
