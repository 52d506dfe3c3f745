import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowUpdateStage } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths';
import { poke } from './sdk-repro/workflow';

/** The query docs/operations.md gives operators, read from the page so that the page stays true. */
function stuckRunsQuery(): string {
  const page = readFileSync(path.join(PROJECT_ROOT, 'docs', 'operations.md'), 'utf8');
  const line = page.split('\n').find((l) => l.includes('TemporalReportedProblems') && l.includes(`WorkflowType = 'orderSaga'`));
  if (!line) throw new Error('docs/operations.md has no query for orders stuck on a failing workflow task');
  const query = /--query "([^"]+)"/.exec(line)?.[1];
  if (!query) throw new Error(`no --query "..." in: ${line}`);
  return query;
}

/**
 * The TypeScript SDK (1.24) writes a history it cannot replay when an Update is
 * accepted while a local activity is retrying inside an open workflow task.
 * Why saga 0.4's orders stuck COMPENSATING: the refund was such a local
 * activity, and a repeated cancel such an Update. (Not sdk-typescript#1966: that
 * report is a duplicated Update acceptance, with no local activity.)
 *
 * What happens, as the histories show:
 * 1. The local activity fails and retries within the workflow task, which the
 *    SDK keeps open by completing it empty and taking the next one (a task
 *    heartbeat) until the local activity resolves.
 * 2. An Update sent meanwhile arrives with a heartbeat task; the handler accepts
 *    and completes it. Then the local activity's backoff passes the local retry
 *    threshold: a marker and a timer. The task's commands, in order: Update
 *    accepted, Update completed, marker, timer.
 * 3. On replay the SDK delivers the local activity's result (from the marker)
 *    together with the Update, so the timer is started before the handler's
 *    condition lets it complete: timer, then Update completed. The recorded
 *    order differs and every later task of the run fails with TMPRL1100.
 *
 * This test writes such a history on the real dev server and expects it not to
 * replay. The day it replays, the SDK has been fixed: the saga's rule (no
 * local activity while an Update can be accepted, workflows/order-saga.ts)
 * still costs little and stays.
 */

let env: TestWorkflowEnvironment;
const { temporalAddress } = inject('testEnv');
const workflowsPath = path.join(__dirname, 'sdk-repro', 'workflow.ts');

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress });
});

afterAll(async () => {
  await env?.teardown();
});

describe('the SDK defect the saga avoids: an Update accepted while a local activity retries in an open workflow task', () => {
  it('writes a history that its own workflow code cannot replay', async () => {
    let attempts = 0;
    const activities = {
      async flaky() {
        // Fails at 0, 1, 3 and 7 s, then succeeds once the 8 s backoff's timer has fired.
        if (++attempts <= 4) throw new Error('provider unavailable');
      },
    };
    const taskQueue = `sdk-repro-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities });
    const history = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('localActivityThenUpdate', {
        taskQueue,
        workflowId: `sdk-repro-${randomUUID()}`,
        // The task heartbeats every 0.8 × 6 s while the local activity retries: the
        // Update arrives in the first span and is handled in the second, which the
        // local activity's backoff ends at about 7 s, seconds from either edge.
        workflowTaskTimeout: '6 seconds',
      });
      await new Promise((r) => setTimeout(r, 500)); // within the first task, before its heartbeat
      const update = await handle.startUpdate(poke, { waitForStage: WorkflowUpdateStage.ACCEPTED });
      expect(await update.result()).toBe('poked');
      await handle.result(); // the cached run finishes: nothing replayed it yet
      return handle.fetchHistory();
    });
    const types = (history.events ?? []).map((e) =>
      e.workflowExecutionUpdateAcceptedEventAttributes ? 'accepted'
      : e.workflowExecutionUpdateCompletedEventAttributes ? 'completed'
      : e.markerRecordedEventAttributes ? 'marker'
      : e.timerStartedEventAttributes ? 'timer'
      : e.workflowTaskCompletedEventAttributes ? 'task'
      : undefined,
    ).filter(Boolean);
    // One task's commands: the Update, then the local activity's backoff.
    expect(types.join(' ')).toContain('task accepted completed marker timer');
    await expect(Worker.runReplayHistory({ workflowsPath }, history)).rejects.toThrow(DeterminismViolationError);
    await expect(Worker.runReplayHistory({ workflowsPath }, history)).rejects.toThrow(/TMPRL1100.*Timer machine does not handle this event.*WorkflowExecutionUpdateCompleted/);
  });

  it('leaves a live run stuck on a worker that replays every task, and the query in docs/operations.md finds it', { timeout: 150_000 }, async () => {
    let attempts = 0;
    const activities = {
      async flaky() {
        if (++attempts <= 4) throw new Error('provider unavailable');
      },
    };
    const taskQueue = `sdk-repro-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath, activities, maxCachedWorkflows: 0 });
    const workflowId = `sdk-repro-${randomUUID()}`;
    const query = stuckRunsQuery().replace(`WorkflowType = 'orderSaga'`, `WorkflowType = 'localActivityThenUpdate' AND WorkflowId = '${workflowId}'`);
    const found = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('localActivityThenUpdate', { taskQueue, workflowId, workflowTaskTimeout: '6 seconds' });
      await new Promise((r) => setTimeout(r, 500));
      await (await handle.startUpdate(poke, { waitForStage: WorkflowUpdateStage.ACCEPTED })).result();
      // The timer fires after 8 s; every task from then on fails, and the server flags the run after two.
      for (let i = 0; i < 120; i++) {
        for await (const run of env.client.workflow.list({ query })) return run;
        await new Promise((r) => setTimeout(r, 500));
      }
      return undefined;
    });
    expect(found?.workflowId).toBe(workflowId);
    expect(found?.status.name).toBe('RUNNING');
    await env.client.workflow.getHandle(workflowId).terminate('test over');
  });
});
