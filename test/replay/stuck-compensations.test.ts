import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths';
import { resetPoint, type JsonHistoryEvent } from '../../scripts/reset-point';

/**
 * The two runs a chaos run of saga 0.4 left stuck COMPENSATING (exported as
 * recorded; stack-trace paths made relative). They are the input of the
 * recovery docs/operations.md describes: reset each to the task after
 * markCompensating, pinned to the current build.
 */
const DIR = path.join(PROJECT_ROOT, 'test', 'fixtures', 'stuck-compensations');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
const load = (file: string) => JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as { events: JsonHistoryEvent[] };
const replay = (events: JsonHistoryEvent[], id: string) =>
  Worker.runReplayHistory(
    { workflowBundle: { codePath: inject('testEnv').workflowBundlePath } },
    historyFromJSON({ events }) as temporal.api.history.v1.IHistory,
    id,
  );

describe("saga 0.4's stuck compensations", () => {
  it('are the two histories the chaos run exported', () => {
    expect(files.sort()).toEqual(['order-1d1439fe-fd84-428a-bb13-8a2b9d8a941b.json', 'order-ed9d993b-8f13-4d7b-90fe-4606b76a9668.json']);
  });

  it.each(files)('%s: its last task failed with the replay defect, and the reset point is the task after markCompensating', (file) => {
    const { events } = load(file);
    const last = events.at(-1) as JsonHistoryEvent & { workflowTaskFailedEventAttributes?: { failure?: { message?: string } } };
    expect(last.eventType).toBe('EVENT_TYPE_WORKFLOW_TASK_FAILED');
    expect(last.workflowTaskFailedEventAttributes?.failure?.message).toMatch(/TMPRL1100.*Timer machine does not handle this event.*WorkflowExecutionUpdateCompleted/);
    // Read off the histories by hand: 22 and 28 are the tasks that started the refund.
    expect(resetPoint(events)).toBe(file.includes('1d1439fe') ? 22 : 28);
  });

  it.each(files)('%s: the current build replays it up to the reset point, so the reset run carries on', async (file) => {
    const { events } = load(file);
    const point = resetPoint(events)!;
    await replay(events.filter((e) => Number(e.eventId) < point), `reset-${file}`);
  });

  it.each(files)('%s: the current build cannot replay the whole history, which is why the run is reset, not only moved', async (file) => {
    await expect(replay(load(file).events, `whole-${file}`)).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
