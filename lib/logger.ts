import pino, { type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process; `component` tells api and worker lines apart. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component } });
}
