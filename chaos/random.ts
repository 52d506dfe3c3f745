import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** A seeded source of randomness: the same seed gives the same run plan. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
  /** An independent stream, so that one consumer's draws do not shift another's. */
  fork(): Random;
}

export function seededRandom(seed: number): Random {
  const rng = xoroshiro128plus(seed);
  const next = () => uniformFloat64(rng);
  // A small seed leaves the generator's first outputs far from uniform (seed 42 starts at 0.99999).
  for (let i = 0; i < 20; i++) rng.next();
  const random: Random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    fork: () => seededRandom(Math.floor(next() * 2 ** 31)),
  };
  return random;
}
