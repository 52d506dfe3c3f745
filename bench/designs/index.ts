import { purgeTopology, declareTopology, RABBITMQ_URL } from './rabbitmq/topology';
import amqp from 'amqplib';

export type DesignKey = 'sync' | 'rabbitmq' | 'temporal' | 'temporalFloor';

export interface ProcessSpec {
  name: string;
  entry: string;
  env?: NodeJS.ProcessEnv;
  /** Unix niceness (0 to 19): a lower CPU priority than the other processes. */
  nice?: number;
}

export interface Design {
  key: DesignKey;
  label: string;
  /** True when the POST's answer is already the final status (nothing runs after it). */
  answersWhenDone: boolean;
  /** Nothing processes the accepted orders (a tuning variant that isolates the accept path). */
  acceptOnly?: boolean;
  /** Runs on the benchmark's Temporal dev server (a fresh one per phase; per variant under --tune). */
  usesTemporal?: boolean;
  /** Has the cancel route, so the failure mix sends it cancels. */
  cancels?: boolean;
  /**
   * Where the benchmark learns that an order is final: the orders table (the
   * default), or the file FLOOR_FINAL_FILE that the floor's activities write.
   */
  finals?: 'orders-table' | 'final-file';
  processes(): ProcessSpec[];
  /** Runs before each phase: leaves the design's outside state (queues) empty. */
  prepare?(): Promise<void>;
}

/** The Temporal design with API and worker in one process: a tuning variant (eager workflow start). */
export const TEMPORAL_COMBINED: Design = {
  key: 'temporal',
  usesTemporal: true,
  cancels: true,
  label: 'Temporal saga, API and worker in one process',
  answersWhenDone: false,
  processes: () => [{ name: 'temporal-combined', entry: 'bench/designs/temporal-combined.ts' }],
};

/** The Temporal design's API alone, with no worker: what accepting costs when nothing else runs. */
export const TEMPORAL_ACCEPT_ONLY: Design = {
  key: 'temporal',
  usesTemporal: true,
  cancels: true,
  label: 'Temporal saga, API only (no worker)',
  answersWhenDone: false,
  acceptOnly: true,
  processes: () => [{ name: 'temporal-api', entry: 'api/main.ts' }],
};

export const DESIGNS: Record<DesignKey, Design> = {
  sync: {
    key: 'sync',
    label: 'Synchronous API',
    answersWhenDone: true,
    processes: () => [{ name: 'sync-api', entry: 'bench/designs/sync-server.ts' }],
  },
  rabbitmq: {
    key: 'rabbitmq',
    label: 'RabbitMQ',
    answersWhenDone: false,
    processes: () => [
      { name: 'rabbitmq-api', entry: 'bench/designs/rabbitmq/api.ts' },
      ...(['inventory', 'payment', 'notification'] as const).map((step) => ({
        name: `rabbitmq-${step}`,
        entry: 'bench/designs/rabbitmq/consumer.ts',
        // Four processes share PostgreSQL's 100 connections with the benchmark itself.
        env: { CONSUMER: step, PG_POOL_SIZE: '15' },
      })),
    ],
    prepare: async () => {
      const connection = await amqp.connect(RABBITMQ_URL);
      const ch = await connection.createChannel();
      await declareTopology(ch);
      await purgeTopology(ch);
      await connection.close();
    },
  },
  temporal: {
    key: 'temporal',
    label: 'Temporal saga (this service)',
    answersWhenDone: false,
    usesTemporal: true,
    cancels: true,
    processes: () => [
      { name: 'temporal-api', entry: 'api/main.ts' },
      { name: 'temporal-worker', entry: 'worker/main.ts' },
    ],
  },
  /**
   * Temporal's floor: the same workflow code, worker and start as `temporal`,
   * around activities and an API that do nothing of ours (bench/designs/temporal-floor/).
   * What `temporal` costs beyond it is the cost of our code.
   */
  temporalFloor: {
    key: 'temporalFloor',
    label: 'Temporal floor (the saga with activities that do nothing)',
    answersWhenDone: false,
    usesTemporal: true,
    finals: 'final-file',
    processes: () => [
      { name: 'floor-api', entry: 'bench/designs/temporal-floor/api.ts' },
      { name: 'floor-worker', entry: 'bench/designs/temporal-floor/worker.ts' },
    ],
  },
};

/**
 * The Temporal design with its worker at a lower CPU priority than the API (a
 * tuning variant): on a shared machine accepts go first and the worker, whose
 * work waits durably in Temporal's task queues, takes what is left.
 */
export const TEMPORAL_WORKER_NICED: Design = {
  ...DESIGNS.temporal,
  label: 'Temporal saga, worker at nice 10',
  processes: () => DESIGNS.temporal.processes().map((p) => (p.name === 'temporal-worker' ? { ...p, nice: 10 } : p)),
};
