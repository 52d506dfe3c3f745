import { createActivities } from '../../activities';
import { loadConfig, requireDatabaseUrl } from '../../lib/config';
import { createPool } from '../../lib/db/pool';
import { createLogger } from '../../lib/logger';
import { simulatedServices } from '../../worker/options';

/** Runs a benchmark process's main; any failure is printed and ends the process. */
export function runProcess(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/** On SIGTERM, runs `steps` in order (closing server, connections, pool), then exits. */
export function closeOnSigterm(...steps: Array<() => Promise<unknown>>): void {
  process.once('SIGTERM', async () => {
    for (const step of steps) await step().catch(() => undefined);
    process.exit(0);
  });
}

/**
 * The pieces each baseline process shares with this service: the same config
 * variables, the same pool, the same domain code (the activity functions, called
 * directly, outside Temporal) with the same simulated latencies and failures.
 */
export function baselineRuntime(component: string) {
  const config = loadConfig();
  const pool = createPool(requireDatabaseUrl(config, 'a benchmark design'), config.PG_POOL_SIZE);
  const domain = createActivities(pool, simulatedServices(config));
  return { config, pool, domain, logger: createLogger(component, config.LOG_LEVEL) };
}
