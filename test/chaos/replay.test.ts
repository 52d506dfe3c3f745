import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { ReplayError } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { checkRun, VIOLATION_KINDS } from '../../chaos/checks';
import { describeError, historyVersions, replayRuns } from '../../chaos/replay';
import type { Truth, WorkflowRun } from '../../chaos/truth';
import { HISTORIES_ROOT, currentBuildId } from '../support/fixtures';

/**
 * The chaos run's replay step on real histories: the committed ones of this
 * build replay, an altered copy (the saga's first command changed, as
 * test/replay/replay.test.ts alters it) does not, and one recorded on another
 * build is skipped. None of them has a WorkflowTaskFailed event, so only the
 * replay can tell the altered one from the others: the defect class of saga
 * 0.4, whose bad histories a worker with the run cached carried to completion.
 */
const build = currentBuildId();
const version = { deploymentName: 'order-saga', buildId: build };
const bundlePath = () => inject('testEnv').workflowBundlePath;

type JsonHistory = { events: Array<Record<string, unknown>> };
const load = (folder: string, name: string) => JSON.parse(readFileSync(path.join(HISTORIES_ROOT, folder, `${name}.json`), 'utf8')) as JsonHistory;
const toHistory = (json: JsonHistory) => historyFromJSON(json) as temporal.api.history.v1.IHistory;

function altered(): JsonHistory {
  const json = load(build, 'completed');
  const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes) as
    | { activityTaskScheduledEventAttributes: { activityType: { name: string } } }
    | undefined;
  expect(scheduled?.activityTaskScheduledEventAttributes.activityType.name).toBe('claimAndReserve');
  scheduled!.activityTaskScheduledEventAttributes.activityType.name = 'reserveWithoutClaiming';
  return json;
}

const run = (workflowId: string, runId: string): WorkflowRun => ({
  workflowId,
  runId,
  status: 'COMPLETED',
  startedAtMs: 1,
  failedWorkflowTasks: [],
});

describe('chaos replay of every run history', () => {
  it("reads the versions a history's workflow tasks were completed on", () => {
    expect(historyVersions(toHistory(load(build, 'completed')))).toEqual([`order-saga:${build}`]);
    expect(historyVersions({ events: [{ workflowExecutionStartedEventAttributes: {} }] })).toEqual([]);
  });

  it('flags the altered history (with no failed task in it) as not replayable, replays the others on one worker, skips another build', async () => {
    // Saga 0.4's folder: committed, never rewritten, another build than this one. Its histories
    // name the build id their worker had when they were recorded, from before the id stopped
    // hashing the bundle's source map (the folder moved to the new id, the files did not change).
    const other = '0.4.0-63dab5c834';
    const otherRecordedAs = 'order-saga:0.4.0-bb9f40f28a';
    expect(other).not.toBe(build);
    const runs = [
      run('order-completed', 'r1'),
      run('order-altered', 'r2'),
      // After a failure the same replay worker goes on with the next history.
      run('order-declined', 'r3'),
      run('order-other-build', 'r4'),
    ];
    const alteredHistory = toHistory(altered());
    expect(alteredHistory.events!.some((e) => e.workflowTaskFailedEventAttributes)).toBe(false);
    const histories = new Map([
      ['r1', toHistory(load(build, 'completed'))],
      ['r2', alteredHistory],
      ['r3', toHistory(load(build, 'payment-declined'))],
      ['r4', toHistory(load(other, 'completed'))],
    ]);

    const summary = await replayRuns(runs, histories, bundlePath(), version);

    expect(runs.map((r) => r.replay?.outcome)).toEqual(['replayed', 'failed', 'replayed', 'skipped']);
    const failure = runs[1]!.replay as { error: string };
    expect(failure.error).toBe(
      "DeterminismViolationError: [TMPRL1100] Nondeterminism error: Activity type of scheduled event 'reserveWithoutClaiming' does not match activity type of activity command 'claimAndReserve'",
    );
    expect(failure.error).not.toContain('\n');
    expect(runs[3]!.replay).toEqual({ outcome: 'skipped', reason: `pinned to ${otherRecordedAs}, not order-saga:${build}` });
    expect(summary).toMatchObject({ buildId: build, replayed: 2, failed: 1, skipped: 1 });

    // And the check counts it, with the workflow id and the error's first line.
    const truth: Truth = { orders: [], charges: [], payments: [], reservations: [], products: [], confirmations: [], runs };
    const result = checkRun({ placements: [], repeats: [], cancels: [], retries: [] }, truth, {});
    expect(result.violations).toEqual(Object.fromEntries(VIOLATION_KINDS.map((k) => [k, k === 'history_not_replayable' ? 1 : 0])));
    expect(result.examples.history_not_replayable).toEqual([`order-altered/r2: ${failure.error}`]);
  });

  it("names a replay error by its class and its cause's first line, without the SDK's preamble", () => {
    const core = 'Failure { failure: Some(Failure { message: "boom in \\"reserve\\"\\nat line 2", source: "" }) }';
    expect(describeError(new ReplayError(`Replay failed due workflow task failure. Details: ${core}`))).toBe('ReplayError: boom in "reserve"');
    expect(describeError(new Error('first\nsecond'))).toBe('Error: first');
  });

  it('calls a run whose history was not read not replayable, rather than passing it', async () => {
    const runs = [run('order-unread', 'r9')];
    const summary = await replayRuns(runs, new Map(), bundlePath(), version);
    expect(runs[0]!.replay).toEqual({ outcome: 'failed', error: 'no history was read for this run' });
    expect(summary).toMatchObject({ replayed: 0, failed: 1, skipped: 0 });
  });
});
