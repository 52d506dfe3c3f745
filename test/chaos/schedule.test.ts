import { describe, expect, it } from 'vitest';
import { PROFILES } from '../../chaos/profiles';
import { seededRandom } from '../../chaos/random';
import { FAULT_KINDS, formatSchedule, planFaults } from '../../chaos/schedule';

describe('chaos fault schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    const plan = (seed: number) => formatSchedule(planFaults(PROFILES.full, seededRandom(seed)));
    expect(plan(11)).toEqual(plan(11));
    expect(plan(12)).not.toEqual(plan(11));
  });

  it("has the profile's number of faults of each kind, in order, inside the load", () => {
    for (const profile of Object.values(PROFILES)) {
      const plan = planFaults(profile, seededRandom(3));
      for (const kind of FAULT_KINDS) expect(plan.filter((f) => f.kind === kind)).toHaveLength(profile.faultsPerKind);
      const times = plan.map((f) => f.atMs);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(Math.min(...times)).toBeGreaterThanOrEqual(profile.loadSeconds * 1000 * 0.05);
      expect(Math.max(...times)).toBeLessThan(profile.loadSeconds * 1000 * 0.95);
      for (const f of plan.filter((f) => f.kind === 'provider_outage')) {
        expect(f.downMs).toBeGreaterThanOrEqual(profile.outageMs[0]);
        expect(f.downMs).toBeLessThanOrEqual(profile.outageMs[1]);
      }
    }
  });
});
