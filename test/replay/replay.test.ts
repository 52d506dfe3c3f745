import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { CURRENT_VERSION, HISTORIES_ROOT } from '../support/fixtures';

/**
 * Replays histories recorded from real runs (`npm run fixtures:record`) through
 * the current workflow code: those of every released version, each in its own
 * folder, and those of the version being developed. A change that would make a
 * running order take a different path on replay, a non-deterministic change,
 * fails here first (docs/saga.md, "Changing the saga").
 */

// The paths docs/saga.md describes; the current version must have each recorded.
const REQUIRED = [
  'completed',
  'payment-declined',
  'out-of-stock',
  'payment-unavailable',
  'retried-completed',
  'cancelled-during-payment',
];

const versions = readdirSync(HISTORIES_ROOT).sort();
const files = versions.flatMap((version) =>
  readdirSync(path.join(HISTORIES_ROOT, version))
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(version, f)),
);

describe('replay of recorded histories', () => {
  it('keeps the histories of earlier versions and has every saga path recorded for this one', () => {
    expect(versions).toContain('0.1.0');
    expect(versions).toContain(CURRENT_VERSION);
    const current = files.filter((f) => f.startsWith(`${CURRENT_VERSION}${path.sep}`)).map((f) => path.basename(f, '.json'));
    expect(current.sort()).toEqual(expect.arrayContaining(REQUIRED));
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_ROOT, file), 'utf8')));
    expect(history.events?.length).toBeGreaterThan(5);
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('testEnv').workflowBundlePath } },
      history,
      `replay-${file}`,
    );
  });
});
