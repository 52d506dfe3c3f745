import type { IncomingMessage } from 'node:http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource, envDetectorSync } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/**
 * OpenTelemetry for one process: a tracer provider registered as the global one
 * (W3C trace context, AsyncLocalStorage context), spans for incoming and outgoing
 * HTTP and for every PostgreSQL query made inside a traced operation.
 *
 * Nothing here runs unless tracing is started: with OTEL_EXPORTER_OTLP_ENDPOINT
 * unset no provider, no instrumentation and no Temporal interceptor is installed,
 * and the OpenTelemetry API the libraries call stays its built-in no-op.
 */
export interface Tracing {
  /** Where finished spans go; the worker also hands it the spans its workflows make (sinks). */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Flushes spans not yet exported, then stops. */
  shutdown(): Promise<void>;
}

/** Probes and scrapes arrive every few seconds and say nothing about an order. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The standard OTLP variables; either one turns tracing on. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

let active: Tracing | undefined;

/** The tracing this process started, if any (api/main.ts and worker/options.ts wire Temporal to it). */
export function activeTracing(): Tracing | undefined {
  return active;
}

/**
 * Starts tracing into `spanProcessor`. Must run before `pg` and the HTTP server
 * are loaded (api/tracing.ts and worker/tracing.ts, imported first) so their modules are
 * patched; tests pass an in-memory exporter's processor.
 */
export function startTracing(serviceName: string, spanProcessor: SpanProcessor): Tracing {
  if (active) throw new Error('tracing is already started in this process');
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over our default name.
  const resource = Resource.default()
    .merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName }))
    .merge(envDetectorSync.detect());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
        // Express sets req.route once a route matched: name the server span after
        // the route ("POST /api/orders"), not the bare method.
        applyCustomAttributesOnSpan: (span, request) => {
          const route = expressRoute(request as IncomingMessage);
          if (!route) return;
          span.setAttribute(ATTR_HTTP_ROUTE, route);
          span.updateName(`${(request as IncomingMessage).method} ${route}`);
        },
      }),
      // No root spans for queries outside a traced operation (the start sweep's
      // polling), and no bound parameters in spans: they hold customer data.
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    ],
  });
  const tracing: Tracing = {
    spanProcessor,
    resource,
    shutdown: async () => {
      unregister();
      await provider.shutdown();
      active = undefined;
    },
  };
  active = tracing;
  return tracing;
}

/** The OTLP/HTTP exporter configured by the standard OTEL_EXPORTER_OTLP_* variables, batched. */
export function otlpSpanProcessor(exporter: SpanExporter = new OTLPTraceExporter()): SpanProcessor {
  return new BatchSpanProcessor(exporter);
}

/** Starts tracing over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces one) is set; else does nothing. */
export function startTracingFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (!tracingConfigured(env)) return undefined;
  return startTracing(serviceName, otlpSpanProcessor());
}

function expressRoute(req: IncomingMessage & { route?: { path?: unknown }; baseUrl?: unknown }): string | undefined {
  const path = req.route?.path;
  if (typeof path !== 'string') return undefined;
  const base = typeof req.baseUrl === 'string' ? req.baseUrl : '';
  // A router mounted at /api/orders answers POST /api/orders on its route '/'.
  return base && path === '/' ? base : `${base}${path}`;
}
