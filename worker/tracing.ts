/**
 * Imported first by worker/main.ts, for its side effect: with OTEL_EXPORTER_OTLP_ENDPOINT
 * set, tracing starts here, before the modules it instruments are loaded.
 */
import { startTracingFromEnv } from '../lib/telemetry/tracing';

startTracingFromEnv('order-saga-worker');
