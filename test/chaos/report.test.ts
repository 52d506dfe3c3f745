import { describe, expect, it } from 'vitest';
import { VIOLATION_KINDS } from '../../chaos/checks';
import { failed, summary, type ChaosReport } from '../../chaos/report';
import { FAULT_KINDS } from '../../chaos/schedule';

/**
 * The end of a chaos run: the summary names every violated kind with its
 * examples, and `failed` (the exit code 1 that fails CI's chaos step) holds for
 * any of them, the replay's included.
 */
function report(violated: Partial<Record<(typeof VIOLATION_KINDS)[number], number>>, examples: ChaosReport['examples'] = {}): ChaosReport {
  return {
    orders: 356,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 3])) as ChaosReport['faults'],
    violations: { ...(Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as ChaosReport['violations']), ...violated },
    lost: 0,
    unfinished: 0,
    seconds: 120,
    profile: 'quick',
    seed: 7,
    requests: {
      placed: 360,
      accepted: 356,
      unavailable503: 0,
      unanswered: 0,
      ambiguous: 4,
      cancelsSent: 36,
      cancelsAccepted: 20,
      keyRepeats: 20,
      paymentRetriesSent: 43,
      paymentRetriesAccepted: 43,
    },
    unexpectedExits: { worker: 0, api: 0 },
    replay: { buildId: '0.5.0-12dc201bc8', replayed: 400, failed: 0, skipped: 0, ms: 3_100 },
    examples,
  };
}

describe('chaos report', () => {
  it('passes with no violation and says how the replay went', () => {
    const text = summary(report({}));
    expect(failed(report({}))).toBe(false);
    expect(text).toContain('replay           400 histories through build 0.5.0-12dc201bc8 in 3.1 s, 0 failed, 0 skipped (pinned to another build)');
    expect(text).toContain(`checks           ${VIOLATION_KINDS.length} invariants, all hold`);
    expect(text.split('\n').at(-1)).toBe('PASSED');
  });

  it('lists a history that did not replay like any other violation, and fails', () => {
    const example = 'order-x/r1: DeterminismViolationError: [TMPRL1100] Nondeterminism error: ...';
    const r = report({ history_not_replayable: 1 }, { history_not_replayable: [example] });
    expect(failed(r)).toBe(true);
    const text = summary(r);
    expect(text).toContain('1 VIOLATED');
    expect(text).toContain(`    history_not_replayable: 1 (e.g. ${example})`);
    expect(text.split('\n').at(-1)).toBe('FAILED');
  });
});
