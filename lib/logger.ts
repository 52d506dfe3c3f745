import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Human-readable lines when a person is likely reading: LOG_PRETTY=1, or unset
 * and stdout is a terminal. Under `npm start` our stdout is a pipe to the
 * starter, which sets LOG_PRETTY=1 when its own stdout is a terminal. JSON
 * otherwise, for log collectors.
 */
export function wantsPrettyLogs(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.LOG_PRETTY === '1') return true;
  if (env.LOG_PRETTY === '0') return false;
  return Boolean(process.stdout.isTTY);
}

/** One logger per process; `component` tells api and worker lines apart in JSON. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  if (level === 'silent' || !wantsPrettyLogs()) return pino({ level, base: { component } });
  return pino({
    level,
    base: { component },
    transport: {
      target: 'pino-pretty',
      // The component is already in the `[api]` / `[worker]` prefix under npm start.
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,component' },
    },
  });
}
