import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../../chaos/profiles';
import { summary } from '../../chaos/report';
import { runChaos } from '../../chaos/run';
import { FAULT_KINDS } from '../../chaos/schedule';

/**
 * The small variant of `npm run chaos`: its own stack (PostgreSQL, the Temporal
 * dev server on a file, worker and API as processes), 40 orders at 4 per second
 * and one fault of each kind, then every check of the full run.
 */
describe('chaos run, small', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'order-saga-chaos-'));
  const lines: string[] = [];
  let keep = false;
  afterAll(() => {
    // A failed run keeps its logs, ledger and stores for a look.
    if (keep) console.log(`chaos run kept in ${dir}:\n${lines.join('\n')}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing and breaks no invariant under one fault of each kind', async () => {
    keep = true;
    const report = await runChaos({ profile: PROFILES.smoke, seed: 20261127, dir, say: (line) => lines.push(line) });
    lines.push(summary(report));
    expect(report.violations).toEqual(Object.fromEntries(Object.keys(report.violations).map((k) => [k, 0])));
    expect({ lost: report.lost, unfinished: report.unfinished }).toEqual({ lost: 0, unfinished: 0 });
    expect(report.faults).toEqual(Object.fromEntries(FAULT_KINDS.map((k) => [k, 1])));
    // Every run's history was replayed on the stack's build: none skipped as another build's
    // (which would also be what a wrongly derived build id looked like), at least one per order.
    expect(report.replay).toMatchObject({ failed: 0, skipped: 0 });
    expect(report.replay.replayed).toBeGreaterThanOrEqual(report.orders);
    // Nearly every order is accepted: a 503 is answered only while Temporal restarts, and sent again.
    expect(report.orders).toBeGreaterThanOrEqual(30);
    keep = false;
  }, 240_000);
});
