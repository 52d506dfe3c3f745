import { readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { describe, expect, it } from 'vitest';
import { historyCost } from '../../bench/history-cost';
import { HISTORIES_ROOT, currentBuildId } from '../support/fixtures';

/**
 * The benchmark's count of Temporal actions, applied to recorded runs: the
 * counting rule on a history whose actions are counted by hand, and the limit
 * the saga keeps to (at most 5 actions per completed order, docs/benchmarks.md).
 */

const loadFile = (file: string) => historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
/** Histories of saga 0.2.0 kept as inputs of the counting rule (not replayed: no build runs that code). */
const COST_RULE = path.resolve(__dirname, '..', 'fixtures', 'cost-rule');

describe('actions per order, counted from histories', () => {
  it('counts a 0.2.0 completed order as its events add up by hand', () => {
    const cost = historyCost(loadFile(path.join(COST_RULE, '0.2.0-completed.json')));
    // Start; claimOrder's task and completeOrder's task (local activities);
    // reserve, charge and notify; RESERVED, PAID and COMPLETED upserts. The
    // TemporalChangeVersion upsert of the patch is exempt.
    expect(cost.actionsByKind).toEqual({
      'workflow started': 1,
      'activity attempts': 3,
      'search attribute upserts': 3,
      'workflow tasks with local activities': 2,
    });
    expect(cost.actions).toBe(9);
    expect(cost.workflowTasks).toBe(4);
  });

  it('counts every attempt of a retried activity and every timer', () => {
    const cost = historyCost(loadFile(path.join(COST_RULE, '0.2.0-payment-unavailable.json')));
    expect(cost.actionsByKind.timers).toBeGreaterThan(0);
    expect(cost.actions).toBeGreaterThan(9);
  });

  it(`a completed order of this build (${currentBuildId()}) costs at most 5 actions, in 3 workflow tasks, with no patch marker`, () => {
    const file = path.join(HISTORIES_ROOT, currentBuildId(), 'completed.json');
    const history = loadFile(file);
    const cost = historyCost(history);
    expect(cost.actions).toBeLessThanOrEqual(5);
    expect(cost.actionsByKind['search attribute upserts']).toBe(1);
    expect(cost.workflowTasks).toBe(3);
    // Worker Versioning replaced patch(): no marker, no TemporalChangeVersion upsert.
    expect(JSON.stringify(history)).not.toContain('TemporalChangeVersion');
  });
});
