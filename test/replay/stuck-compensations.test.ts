import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths';
import { resetPoint, type JsonHistoryEvent } from '../../scripts/reset-point';
import { currentBuildId } from '../support/fixtures';

/**
 * The recovery docs/operations.md gives for saga 0.4's orders stuck on its
 * replay defect: reset each to the workflow task that scheduled its first local
 * activity, pinned to the current build. Its inputs: the two runs a chaos run
 * of 0.4 left stuck COMPENSATING (exported as recorded; stack-trace paths made
 * relative), and the histories recorded from 0.4's real runs, which cover the
 * other places 0.4 ran a local activity (the claim's confirmation after a
 * failed reserve, the compensations after a decline or a cancel).
 */
/** Histories by their path under test/fixtures/, which names them in the test titles too. */
const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures');
const historiesIn = (folder: string) =>
  readdirSync(path.join(FIXTURES, folder)).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(folder, f));
const stuck = historiesIn('stuck-compensations');
const recorded = historiesIn(path.join('histories', '0.4.0-63dab5c834'));
const load = (file: string) => JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as { events: JsonHistoryEvent[] };
const replay = (events: JsonHistoryEvent[], id: string) =>
  Worker.runReplayHistory(
    { workflowBundle: { codePath: inject('testEnv').workflowBundlePath } },
    historyFromJSON({ events }) as temporal.api.history.v1.IHistory,
    id,
  );
const pointOf = (events: JsonHistoryEvent[]) => {
  const point = resetPoint(events);
  if ('refused' in point) throw new Error(point.refused);
  return point.eventId;
};

describe("saga 0.4's stuck compensations", () => {
  it('are the two histories the chaos run exported', () => {
    expect(stuck.map((f) => path.basename(f))).toEqual(['order-1d1439fe-fd84-428a-bb13-8a2b9d8a941b.json', 'order-ed9d993b-8f13-4d7b-90fe-4606b76a9668.json']);
  });

  it.each(stuck)('%s: its last task failed with the replay defect; the reset point is the task that started the refund', (file) => {
    const { events } = load(file);
    const last = events.at(-1) as JsonHistoryEvent & { workflowTaskFailedEventAttributes?: { failure?: { message?: string } } };
    expect(last.eventType).toBe('EVENT_TYPE_WORKFLOW_TASK_FAILED');
    expect(last.workflowTaskFailedEventAttributes?.failure?.message).toMatch(/TMPRL1100.*Timer machine does not handle this event.*WorkflowExecutionUpdateCompleted/);
    // Read off the histories by hand: 22 and 28 complete the tasks that handled markCompensating's result.
    expect(pointOf(events)).toBe(file.includes('1d1439fe') ? 22 : 28);
  });

  it.each([...stuck, ...recorded])('%s: the current build replays it up to its reset point, so a reset run carries on', async (file) => {
    const { events } = load(file);
    const point = pointOf(events);
    const kept = events.filter((e) => Number(e.eventId) < point);
    expect(kept.some((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')).toBe(false);
    await replay(kept, `reset-${path.basename(file)}`);
  });

  it('a reset point any later fails on the current build: the out-of-stock path ran its claim as a local activity before markCompensating', async () => {
    const { events } = load(path.join('histories', '0.4.0-63dab5c834', 'out-of-stock.json'));
    const marker = events.find((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')!;
    const laterTask = events.find((e) => Number(e.eventId) > Number(marker.eventId) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')!;
    await expect(replay(events.filter((e) => Number(e.eventId) < Number(laterTask.eventId)), 'too-late')).rejects.toBeInstanceOf(DeterminismViolationError);
  });

  it.each(stuck)('%s: the current build cannot replay the whole history, which is why the run is reset, not only moved', async (file) => {
    await expect(replay(load(file).events, `whole-${path.basename(file)}`)).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });

  it("refuses a history of another build than 0.4's, and one with no local activity", () => {
    const { events } = load(path.join('histories', currentBuildId(), 'payment-declined.json'));
    expect(resetPoint(events)).toEqual({ refused: expect.stringContaining('not saga 0.4') });
    const noMarker = load(stuck[0]!).events.filter((e) => e.eventType !== 'EVENT_TYPE_MARKER_RECORDED');
    expect(resetPoint(noMarker)).toEqual({ refused: expect.stringContaining('no local activity ran') });
  });
});
