import type { Profile } from './profiles';
import type { Random } from './random';

export const FAULT_KINDS = ['worker_kill', 'api_kill', 'temporal_restart', 'postgres_restart', 'provider_outage'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** When it starts, ms after the load began. */
  atMs: number;
  /** How long the component stays down before it is started again (the outage's length for the provider). */
  downMs: number;
  /** PostgreSQL only: a fast shutdown (SIGINT) or an immediate one (SIGQUIT, crash recovery on start). */
  mode?: 'fast' | 'immediate';
}

/** How long each kind stays down, ms: [min, max]. */
function downRange(kind: FaultKind, profile: Profile): [number, number] {
  switch (kind) {
    case 'worker_kill':
      return [0, 2_000];
    case 'api_kill':
      return [0, 1_000];
    case 'temporal_restart':
    case 'postgres_restart':
      return [500, 3_000];
    case 'provider_outage':
      return profile.outageMs;
  }
}

/**
 * `faultsPerKind` faults of each kind in a shuffled order, one per equal slot of
 * the load's middle 90 %, at a random point in the first half of its slot.
 * Faults of different kinds may overlap (a slow restart runs into the next
 * slot); faults of one kind run one after the other.
 */
export function planFaults(profile: Profile, random: Random): PlannedFault[] {
  const kinds = random.shuffle(FAULT_KINDS.flatMap((kind) => Array<FaultKind>(profile.faultsPerKind).fill(kind)));
  const windowMs = profile.loadSeconds * 1000 * 0.9;
  const slotMs = windowMs / kinds.length;
  return kinds.map((kind, i) => {
    const [min, max] = downRange(kind, profile);
    return {
      kind,
      atMs: Math.round(profile.loadSeconds * 1000 * 0.05 + i * slotMs + random.next() * slotMs * 0.5),
      downMs: random.int(min, max),
      ...(kind === 'postgres_restart' ? { mode: random.chance(0.5) ? ('fast' as const) : ('immediate' as const) } : {}),
    };
  });
}

export function describeFault(f: PlannedFault): string {
  const down = `${(f.downMs / 1000).toFixed(1)} s`;
  switch (f.kind) {
    case 'worker_kill':
      return `SIGKILL the worker, start it again after ${down}`;
    case 'api_kill':
      return `SIGKILL the API, start it again after ${down}`;
    case 'temporal_restart':
      return `SIGKILL the Temporal dev server, restart it on the same database file after ${down}`;
    case 'postgres_restart':
      return `stop PostgreSQL (${f.mode} shutdown), start it again after ${down}`;
    case 'provider_outage':
      return `payment provider unavailable for ${down}`;
  }
}

/** The schedule as printed at the start of a run: one line per fault, t counted from the first order. */
export function formatSchedule(plan: PlannedFault[]): string[] {
  return plan.map((f, i) => `  ${String(i + 1).padStart(2)}. t=${(f.atMs / 1000).toFixed(1).padStart(5)} s  ${describeFault(f)}`);
}
