import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { HISTORIES_DIR } from '../support/fixtures';

/**
 * Replays histories recorded from real runs (`npm run fixtures:record`) through
 * the current workflow code. A change that would make a running order take a
 * different path on replay, a non-deterministic change, fails here first.
 */

// The paths docs/saga.md describes; each must have a recorded history.
const REQUIRED = [
  'completed',
  'payment-declined',
  'out-of-stock',
  'payment-unavailable',
  'retried-completed',
  'cancelled-during-payment',
];

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('replay of recorded histories', () => {
  it('has a recorded history for every saga path', () => {
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(expect.arrayContaining(REQUIRED));
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
    expect(history.events?.length).toBeGreaterThan(5);
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('testEnv').workflowBundlePath } },
      history,
      `replay-${file}`,
    );
  });
});
