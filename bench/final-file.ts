import { existsSync, readFileSync } from 'node:fs';
import type { FinalState } from './database';

/**
 * Final statuses from the floor design's file (bench/designs/temporal-floor/activities.ts):
 * one line per order, `<orderId> <status> <ms since epoch>`. The floor has no
 * orders table, and asking the server about each run would add to the very cost it measures.
 */
export function finalsFromFile(file: string): (ids: string[]) => Promise<Map<string, FinalState>> {
  return async (ids) => {
    const all = new Map<string, FinalState>();
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [id, status, at] = line.split(' ');
        if (id && status && at) all.set(id, { status, atMs: Number(at) });
      }
    }
    const wanted = new Map<string, FinalState>();
    for (const id of ids) {
      const state = all.get(id);
      if (state) wanted.set(id, state);
    }
    return wanted;
  };
}
