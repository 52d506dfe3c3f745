import type { Pool } from '../../lib/db/pool';
import { hookQueries } from './query-hook';

/**
 * A pool whose matching statements take effect and then lose their reply: the
 * statement runs (and, outside a transaction, commits), and the caller gets the
 * error a connection dropped at that moment would give (a PostgreSQL restart, a
 * network cut). Statements sent on a client from connect() lose theirs alike.
 * `lose(pattern, times)` arms it; `lost` counts the replies dropped.
 */
export function lossyPool(pool: Pool) {
  const armed: Array<{ pattern: RegExp; left: number }> = [];
  const state = { lost: 0 };
  const lossy = hookQueries(pool, async (text, send) => {
    const result = await send();
    const rule = armed.find((r) => r.left > 0 && r.pattern.test(text));
    if (rule) {
      rule.left--;
      state.lost++;
      throw new Error('Connection terminated unexpectedly (reply lost after commit)');
    }
    return result;
  });
  return {
    pool: lossy,
    lose(pattern: RegExp, times = 1) {
      armed.push({ pattern, left: times });
    },
    get lost() {
      return state.lost;
    },
  };
}
