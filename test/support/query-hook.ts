/**
 * `db` (a pg pool, or a client), with every query sent through `hook`, which gets
 * the statement's text and `send`, and may send it, fail it, or act around it.
 * Clients that connect() hands out are hooked alike, so statements of a
 * transaction, or of a write the code runs on a client of its own, go through
 * it too. Test fakes of a failing database are built on this.
 */
export function hookQueries<T extends object>(db: T, hook: (text: string, send: () => Promise<unknown>) => Promise<unknown>): T {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'query') {
        // pg's query() has many overloads; the first argument is the SQL text or a config holding it.
        return (...args: unknown[]) => {
          const first = args[0] as string | { text?: string };
          const text = typeof first === 'string' ? first : first?.text ?? '';
          return hook(text, () => value.apply(target, args) as Promise<unknown>);
        };
      }
      if (prop === 'connect') return async () => hookQueries((await value.apply(target, [])) as object, hook);
      return value.bind(target);
    },
  });
}
