import { isIPv6 } from 'node:net';
import { Runtime, makeTelemetryFilterString, type MetricsExporterConfig } from '@temporalio/worker';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { ORDER_METRICS } from './order-metric-names';

/**
 * Buckets (ms) for the saga's run time: a healthy order takes well under a
 * second plus the simulated services' latency, a payment that retries through a
 * provider outage up to PAYMENT_BUDGET_MS (2 min), a stuck one longer.
 */
const SAGA_DURATION_BUCKETS_MS = [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 900_000];

/**
 * The worker's Prometheus endpoint on WORKER_METRICS_PORT (0: none): the
 * Temporal runtime serves GET /metrics with the SDK's temporal_* series (task
 * latencies, schedule-to-start, sticky cache, failures) and the saga's own,
 * which it records through the same meter.
 */
export function metricsExporter(config: Config): MetricsExporterConfig | undefined {
  if (config.WORKER_METRICS_PORT === 0) return undefined;
  return {
    prometheus: {
      bindAddress: `${metricsHost(config)}:${config.WORKER_METRICS_PORT}`,
      histogramBucketOverrides: { [ORDER_METRICS.duration]: SAGA_DURATION_BUCKETS_MS },
    },
  };
}

/** WORKER_METRICS_HOST as a socket address's host part: an IPv6 address in brackets. */
export function metricsHost(config: Pick<Config, 'WORKER_METRICS_HOST'>): string {
  return isIPv6(config.WORKER_METRICS_HOST) ? `[${config.WORKER_METRICS_HOST}]` : config.WORKER_METRICS_HOST;
}

/** Installs the Temporal runtime once per process: Core's log lines into ours, and the metrics endpoint. */
export function installWorkerRuntime(config: Config, logger: Logger): void {
  Runtime.install({
    logger: {
      log: (level, message, meta) => logger[level.toLowerCase() as 'info'](meta ?? {}, message),
      trace: (message, meta) => logger.trace(meta ?? {}, message),
      debug: (message, meta) => logger.debug(meta ?? {}, message),
      info: (message, meta) => logger.info(meta ?? {}, message),
      warn: (message, meta) => logger.warn(meta ?? {}, message),
      error: (message, meta) => logger.error(meta ?? {}, message),
    },
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) },
      metrics: metricsExporter(config),
    },
  });
}
