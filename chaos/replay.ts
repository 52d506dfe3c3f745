import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { versionKey, type DeploymentVersion } from '../lib/temporal/deployment';
import type { ReplayOutcome, WorkflowRun } from './truth';

/**
 * Replays every run's history from its start through the workflow bundle the
 * stack's workers load. A WorkflowTaskFailed event in a history
 * (`workflow_task_failed`) shows only the failures a worker met; a worker that
 * had the run in its cache never replays it, so a history its own code cannot
 * replay can still run to completion without one. That is how saga 0.4 wrote its
 * bad histories: only a worker that had lost the run from its cache failed on
 * them. A replay from the start is what such a worker, or the next release's
 * replay test, would do.
 */

export interface ReplaySummary {
  /** The build whose bundle replayed the histories: the one the stack's workers run. */
  buildId: string;
  replayed: number;
  failed: number;
  /** Runs pinned to another build, not replayed (a chaos run has one build: none expected). */
  skipped: number;
  /** Wall time of the whole replay, one replay worker for every history. */
  ms: number;
}

/**
 * The versions (`<deployment>:<build id>`) the workflow tasks of a history were
 * completed on: one for a pinned run, none for a run no versioned worker took.
 */
export function historyVersions(history: temporal.api.history.v1.IHistory): string[] {
  const keys = new Set<string>();
  for (const event of history.events ?? []) {
    const version = event.workflowTaskCompletedEventAttributes?.deploymentVersion;
    if (version?.buildId) keys.add(versionKey({ deploymentName: version.deploymentName ?? '', buildId: version.buildId }));
  }
  return [...keys];
}

/**
 * The error's name and the first line of its cause. The SDK puts the same
 * sentence before every replay failure's details ("Replay failed with a
 * nondeterminism error. This means ... Details: "), and Core's details are a Rust
 * debug print of the failure (`Failure { failure: Some(Failure { message: "…"`);
 * both are dropped so that the example shows the message, e.g.
 * `DeterminismViolationError: [TMPRL1100] Nondeterminism error: Activity type of scheduled event …`.
 */
export function describeError(err: unknown): string {
  const error = err instanceof Error ? err : new Error(String(err));
  const details = error.message.replace(/^Replay failed[^]*?Details: /, '');
  const quoted = /message: "((?:[^"\\]|\\.)*)"/.exec(details)?.[1]?.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return `${error.name}: ${(quoted ?? details).split('\n')[0]}`;
}

/**
 * Replays the history of each of `runs` (from `histories`, by run id) through the
 * bundle at `bundlePath` on one replay worker, and sets each run's `replay`. A run
 * whose history names another version than `version` is skipped: its build's code,
 * not this one, is what must replay it. A run without a history, or left
 * unreplayed because the replay worker itself stopped, counts as failed: a check
 * that could not look must not pass.
 */
export async function replayRuns(
  runs: WorkflowRun[],
  histories: Map<string, temporal.api.history.v1.IHistory>,
  bundlePath: string,
  version: DeploymentVersion,
): Promise<ReplaySummary> {
  const started = performance.now();
  const ours = versionKey(version);
  const pending: Array<{ run: WorkflowRun; history: temporal.api.history.v1.IHistory }> = [];
  for (const run of runs) {
    const history = histories.get(run.runId);
    if (!history) {
      run.replay = { outcome: 'failed', error: 'no history was read for this run' };
      continue;
    }
    const others = historyVersions(history).filter((key) => key !== ours);
    if (others.length > 0) run.replay = { outcome: 'skipped', reason: `pinned to ${others.join(', ')}, not ${ours}` };
    else pending.push({ run, history });
  }

  if (pending.length > 0) {
    // One history at a time, so the results come back in the order the histories went in;
    // the workflow id is given, as histories do not hold it (a retried order's runs share one).
    const results = Worker.runReplayHistories(
      { workflowBundle: { codePath: bundlePath } },
      pending.map(({ run, history }) => ({ workflowId: run.workflowId, history })),
    );
    let next = 0;
    let stopped: string | undefined;
    try {
      for await (const result of results) {
        const { run } = pending[next++]!;
        run.replay = result.error ? { outcome: 'failed', error: describeError(result.error) } : { outcome: 'replayed' };
      }
    } catch (err) {
      stopped = describeError(err);
    }
    for (const { run } of pending.slice(next)) {
      run.replay = { outcome: 'failed', error: `not replayed: the replay worker stopped${stopped ? ` (${stopped})` : ''}` };
    }
  }

  const count = (outcome: ReplayOutcome['outcome']) => runs.filter((r) => r.replay?.outcome === outcome).length;
  return {
    buildId: version.buildId,
    replayed: count('replayed'),
    failed: count('failed'),
    skipped: count('skipped'),
    ms: Math.round(performance.now() - started),
  };
}
