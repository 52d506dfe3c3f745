import type { CheckResult, ViolationKind } from './checks';
import type { Ledger } from './ledger';
import type { ReplaySummary } from './replay';
import type { FaultKind } from './schedule';

/** The JSON of `--out FILE`; the first six fields are the run's headline figures. */
export interface ChaosReport {
  orders: number;
  faults: Record<FaultKind, number>;
  violations: Record<ViolationKind, number>;
  lost: number;
  unfinished: number;
  seconds: number;
  profile: string;
  seed: number;
  requests: RequestCounts;
  /** Worker and API exits the run did not cause (a process that found a dependency down at start-up). */
  unexpectedExits: { worker: number; api: number };
  /** The replay of every run's history through the stack's build (its failures are `history_not_replayable`). */
  replay: ReplaySummary;
  examples: CheckResult['examples'];
}

export interface RequestCounts {
  /** Orders the driver placed (each may have taken several requests). */
  placed: number;
  accepted: number;
  /** Answers 503 TEMPORAL_UNAVAILABLE (nothing created; the driver sent the order again later). */
  unavailable503: number;
  /** Requests that got no answer (the API was down or killed mid-request), sent again with the same key. */
  unanswered: number;
  /** Orders still without a definitive answer when the driver gave up. */
  ambiguous: number;
  cancelsSent: number;
  cancelsAccepted: number;
  keyRepeats: number;
  paymentRetriesSent: number;
  paymentRetriesAccepted: number;
}

export function requestCounts(ledger: Ledger): RequestCounts {
  const replies = ledger.placements.flatMap((p) => p.replies);
  return {
    placed: ledger.placements.length,
    accepted: ledger.placements.filter((p) => p.outcome === 'accepted').length,
    unavailable503: replies.filter((r) => r.status === 503 && r.code === 'TEMPORAL_UNAVAILABLE').length,
    unanswered: replies.filter((r) => r.status === 0).length,
    ambiguous: ledger.placements.filter((p) => p.outcome === 'ambiguous').length,
    cancelsSent: ledger.cancels.length,
    cancelsAccepted: ledger.cancels.filter((c) => c.accepted).length,
    keyRepeats: ledger.repeats.length,
    paymentRetriesSent: ledger.retries.length,
    paymentRetriesAccepted: ledger.retries.filter((r) => r.reply.status === 202).length,
  };
}

export const failed = (r: Pick<ChaosReport, 'violations' | 'lost' | 'unfinished'>): boolean =>
  r.lost > 0 || r.unfinished > 0 || Object.values(r.violations).some((n) => n > 0);

const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/** The human-readable end of a run. */
export function summary(r: ChaosReport): string {
  const q = r.requests;
  const violated = Object.entries(r.violations).filter(([, n]) => n > 0);
  const totalFaults = Object.values(r.faults).reduce((a, b) => a + b, 0);
  return [
    `Chaos run (${r.profile}, seed ${r.seed}): ${r.seconds} s`,
    `  orders accepted  ${r.orders} of ${q.placed} placed; ${q.unavailable503} answers 503, ${q.unanswered} requests unanswered (sent again), ${q.ambiguous} left ambiguous`,
    `  mix              ${q.cancelsAccepted}/${q.cancelsSent} cancels accepted, ${q.keyRepeats} repeated keys, ${q.paymentRetriesAccepted}/${q.paymentRetriesSent} PAYMENT_UNAVAILABLE retries accepted`,
    `  faults           ${totalFaults}: ${list(r.faults)}`,
    `  unplanned exits  worker ${r.unexpectedExits.worker}, api ${r.unexpectedExits.api} (restarted)`,
    `  replay           ${r.replay.replayed + r.replay.failed} histories through build ${r.replay.buildId} in ${(r.replay.ms / 1000).toFixed(1)} s, ${r.replay.failed} failed, ${r.replay.skipped} skipped (pinned to another build)`,
    `  checks           ${Object.keys(r.violations).length} invariants, ${violated.length ? `${violated.length} VIOLATED` : 'all hold'}`,
    ...violated.map(([k, n]) => `    ${k}: ${n} (e.g. ${(r.examples[k as ViolationKind] ?? []).join(', ')})`),
    `  lost             ${r.lost}`,
    `  unfinished       ${r.unfinished}`,
    failed(r) ? 'FAILED' : 'PASSED',
  ].join('\n');
}
