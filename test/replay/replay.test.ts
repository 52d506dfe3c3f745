import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, inject, it } from 'vitest';
import { HISTORIES_ROOT, MANIFEST, currentBuildId, readManifest, sha256 } from '../support/fixtures';

/**
 * Replays the histories recorded from real runs of this build
 * (`npm run fixtures:record`) through its workflow code. A run is pinned to the
 * build that started it, so a build replays only its own histories: the folders
 * of earlier builds are kept as recorded, checked here to be unchanged, and not
 * replayed (no worker of this build will ever be handed their runs).
 */

// The paths docs/saga.md describes; the current build must have each recorded.
const REQUIRED = ['completed', 'payment-declined', 'out-of-stock', 'payment-unavailable', 'retried-completed', 'cancelled-during-payment'];

const build = currentBuildId();
const buildDir = path.join(HISTORIES_ROOT, build);
const recorded = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json'));
const folders = readdirSync(HISTORIES_ROOT).filter((f) => statSync(path.join(HISTORIES_ROOT, f)).isDirectory());
const current = folders.includes(build) ? recorded(buildDir) : [];

const load = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { events: Array<Record<string, unknown>> };
const replay = (history: unknown, id: string) =>
  Worker.runReplayHistory({ workflowBundle: { codePath: inject('testEnv').workflowBundlePath } }, history as temporal.api.history.v1.IHistory, id);

describe('recorded histories', () => {
  it(`has every saga path recorded for this build (${build}); \`npm run fixtures:record\` records them`, () => {
    expect(current.map((f) => path.basename(f, '.json')).sort()).toEqual(expect.arrayContaining(REQUIRED));
  });

  it('are exactly as first recorded: every file is in the manifest with its hash, and every entry has its file', () => {
    const manifest = readManifest();
    const onDisk = folders.flatMap((folder) => recorded(path.join(HISTORIES_ROOT, folder)).map((f) => `${folder}/${f}`));
    expect(onDisk.sort(), `${path.relative(process.cwd(), MANIFEST)} lists every history`).toEqual(Object.keys(manifest).sort());
    for (const file of onDisk) {
      expect(sha256(readFileSync(path.join(HISTORIES_ROOT, file), 'utf8')), `${file} was changed after it was recorded`).toBe(manifest[file]);
    }
  });

  it.each(current)(`${build}/%s replays without non-determinism`, async (file) => {
    const history = historyFromJSON(load(path.join(buildDir, file)));
    expect(history.events?.length).toBeGreaterThan(5);
    await replay(history, `replay-${file}`);
  });

  it('an altered history fails with a determinism error, so the replay above can fail', async () => {
    const json = load(path.join(buildDir, 'completed.json'));
    // The saga's first command names another activity than the code schedules.
    const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes) as
      | { activityTaskScheduledEventAttributes: { activityType: { name: string } } }
      | undefined;
    expect(scheduled?.activityTaskScheduledEventAttributes.activityType.name).toBe('claimAndReserve');
    scheduled!.activityTaskScheduledEventAttributes.activityType.name = 'reserveWithoutClaiming';
    await expect(replay(historyFromJSON(json), 'replay-altered')).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
