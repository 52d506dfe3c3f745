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
      // Only whole lines: a read may meet the floor's worker half-way through appending one.
      const text = readFileSync(file, 'utf8');
      for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
        const match = /^(\S+) ([A-Z]+) (\d+)$/.exec(line);
        if (match) all.set(match[1]!, { status: match[2]!, atMs: Number(match[3]) });
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
