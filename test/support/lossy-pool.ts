import type { Pool } from '../../lib/db/pool';

/**
 * A pool whose matching statements take effect and then lose their reply: the
 * statement runs (and, outside a transaction, commits), and the caller gets the
 * error a connection dropped at that moment would give (a PostgreSQL restart, a
 * network cut). `lose(pattern, times)` arms it; `lost` counts the replies dropped.
 */
export function lossyPool(pool: Pool) {
  const armed: Array<{ pattern: RegExp; left: number }> = [];
  const state = { lost: 0 };
  const query = async (...args: unknown[]): Promise<unknown> => {
    // pg's query is overloaded; the statements we arm are always (text, values).
    const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
    const text = typeof args[0] === 'string' ? args[0] : '';
    const rule = armed.find((r) => r.left > 0 && r.pattern.test(text));
    if (rule) {
      rule.left--;
      state.lost++;
      throw new Error('Connection terminated unexpectedly (reply lost after commit)');
    }
    return result;
  };
  const lossy = new Proxy(pool, {
    get: (target, prop, receiver) => (prop === 'query' ? query : Reflect.get(target, prop, receiver)),
  });
  return {
    pool: lossy as Pool,
    lose(pattern: RegExp, times = 1) {
      armed.push({ pattern, left: times });
    },
    get lost() {
      return state.lost;
    },
  };
}
