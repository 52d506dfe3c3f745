import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { PROJECT_ROOT } from '../lib/paths';
import { PROFILES } from './profiles';
import { failed, summary } from './report';
import { runChaos } from './run';
import type { ChaosStack } from './stack';

/**
 * `npm run chaos [-- --quick] [--seed N] [--out FILE]`: the stack under a steady
 * order load while workers, APIs, the Temporal dev server and PostgreSQL are
 * killed and restarted and the payment provider goes down, on a seeded
 * schedule; then every invariant is checked (docs/reliability.md). Exits 1 on
 * any violation, lost or unfinished order.
 */
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // `smoke` is the small run `npm test` makes (test/chaos/chaos.test.ts).
    profile: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    dir: { type: 'string', default: path.join(PROJECT_ROOT, '.data', 'chaos') },
  },
});
const profile = PROFILES[(args.profile ?? (args.quick ? 'quick' : 'full')) as keyof typeof PROFILES];
if (!profile) {
  console.error(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
  process.exit(2);
}
const seed = args.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(args.seed);
if (!Number.isInteger(seed) || seed < 0) {
  console.error(`--seed must be a non-negative whole number, not ${args.seed}`);
  process.exit(2);
}
const say = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
// The replay of every history at the end (chaos/replay.ts) is this process's only worker: its
// state changes would fill the output; a warning (a history that fails, with Core's details) stays.
Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: ChaosStack | undefined;
process.on('SIGINT', () => {
  say('interrupted: stopping the stack');
  void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
});

runChaos({ profile, seed, dir: args.dir!, say, onStack: (s) => (stack = s) })
  .then((report) => {
    console.log(`\n${summary(report)}\n\n${JSON.stringify(report)}`);
    if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
    process.exit(failed(report) ? 1 : 0);
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(2);
  });
