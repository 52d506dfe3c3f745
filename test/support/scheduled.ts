import type fc from 'fast-check';
import { TemporalUnavailableError, type OrderWorkflows, type StartOutcome } from '../../api/orders/workflow-gateway';
import type { Pool } from '../../lib/db/pool';
import { markStarted } from '../../store/orders';
import type { OrderInput } from '../../workflows/types';

/*
 * The start fence under fast-check's scheduler, for its interleaving tests
 * (test/unit/start-fence.scheduler.test.ts, twin-requests.scheduler.test.ts):
 * PostgreSQL, Temporal's start and the runs it creates each wait for the
 * scheduler's turn, so a failing order replays exactly from its seed.
 */

/**
 * PostgreSQL under the scheduler: every statement waits for its turn, then runs
 * alone against the real database.
 */
export interface ScheduledPool {
  pool: Pool;
  /** Statements running now. */
  inFlight(): number;
}

export interface ScheduledPoolOptions {
  /** Called with each statement's text and values once it committed, before `lose` may hide its reply. */
  onCommitted?: (text: string, values: unknown[], result: unknown) => void;
  /** The first statement containing this text commits, then its reply is lost (the connection drops). */
  lose?: string | null;
}

export function scheduledPool(pool: Pool, s: fc.Scheduler, label: string, options: ScheduledPoolOptions = {}): ScheduledPool {
  let inFlight = 0;
  let lost = false;
  const query = async (...args: unknown[]): Promise<unknown> => {
    const text = String(args[0]);
    await s.schedule(Promise.resolve(), `${label}${text.slice(0, 40)}`);
    inFlight++;
    try {
      const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      options.onCommitted?.(text, (args[1] as unknown[] | undefined) ?? [], result);
      if (!lost && options.lose && text.includes(options.lose)) {
        lost = true;
        throw new Error('Connection terminated unexpectedly (reply lost after commit)');
      }
      return result;
    } finally {
      inFlight--;
    }
  };
  return {
    pool: new Proxy(pool, { get: (t, p, r) => (p === 'query' ? query : Reflect.get(t, p, r)) }) as Pool,
    inFlight: () => inFlight,
  };
}

/**
 * Releases the scheduled steps one at a time, letting each finish (its
 * statement, the timers of a retried write) before the next, until nothing has
 * been scheduled for a while once `settled()` holds.
 */
export async function releaseAll(s: fc.Scheduler, settled: () => boolean, inFlight: () => number): Promise<void> {
  for (let idle = 0; idle < 400; ) {
    if (s.count() > 0) {
      await s.waitNext(1);
      idle = 0;
    } else if (settled()) {
      idle += 50;
    } else {
      idle++;
    }
    while (inFlight() > 0) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, s.count() > 0 ? 0 : 5));
  }
}

/** How a scheduled start ends. */
export type ScheduledStart =
  | 'started'
  | 'created, then timed out'
  | 'timed out'
  | 'refused'
  | 'api died before the start'
  | 'api died after the start';

/**
 * The runs Temporal creates: each one's first step claims the row, whenever a
 * worker picks it up (the scheduler decides: before the API settles, or long
 * after the sweep), and only a run whose claim succeeds acts.
 */
export function scheduledRuns(s: fc.Scheduler, pool: Pool) {
  const runs: string[] = [];
  const acted: string[] = [];
  const actors: Array<Promise<void>> = [];
  const createRun = (input: OrderInput): string => {
    const runId = `run-${runs.length + 1}`;
    runs.push(runId);
    actors.push(
      (async () => {
        await s.schedule(Promise.resolve(), `${runId} claims`);
        if (await markStarted(pool, { orderId: input.orderId, attempt: input.attempt }, runId, input.startToken ?? null)) acted.push(runId);
      })(),
    );
    return runId;
  };
  return { runs, acted, actors, createRun };
}

/**
 * A Temporal gateway whose start waits for the scheduler's turn and then ends as
 * `outcome` says: a refusal carries the gRPC status `refusal` (code and name), as
 * @grpc/grpc-js raises it. `onStart` sees every input first.
 */
export function scheduledWorkflows(
  s: fc.Scheduler,
  outcome: ScheduledStart,
  createRun: (input: OrderInput) => string,
  { refusal = [7, 'PERMISSION_DENIED'] as const, onStart = (_input: OrderInput) => {} }: { refusal?: readonly [number, string]; onStart?: (input: OrderInput) => void } = {},
): OrderWorkflows {
  return {
    start: async (input): Promise<StartOutcome> => {
      onStart(input);
      await s.schedule(Promise.resolve(), `start: ${outcome}`);
      switch (outcome) {
        case 'started':
          return { kind: 'STARTED', runId: createRun(input) };
        case 'created, then timed out':
          createRun(input);
          throw new TemporalUnavailableError('deadline exceeded');
        case 'timed out':
          throw new TemporalUnavailableError('deadline exceeded');
        case 'refused':
          throw Object.assign(new Error(`${refusal[0]} ${refusal[1]}`), { code: refusal[0], details: 'refused', metadata: {} });
        case 'api died before the start':
          return new Promise<never>(() => undefined);
        case 'api died after the start':
          createRun(input);
          return new Promise<never>(() => undefined);
      }
    },
    cancel: async () => {
      throw new Error('not used');
    },
    waitForClose: async () => undefined,
    ping: async () => undefined,
  };
}
