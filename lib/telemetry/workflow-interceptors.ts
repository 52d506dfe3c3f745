/**
 * Workflow interceptors bundled into every workflow bundle (worker/workflow-bundle.ts
 * and the worker's bundling from source). Runs inside the workflow sandbox: only
 * @temporalio/workflow-safe imports.
 *
 * A workflow is traced when, and only when, its start carried a trace context
 * (the API's client interceptor adds it while tracing is on). That choice is read
 * from the history, so a replay always takes the same path as the original run
 * whatever the replaying worker's settings, and an untraced workflow never
 * constructs OpenTelemetry at all: every interceptor method below is then
 * `undefined`, which the SDK skips when it composes the chain.
 */
import type {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowInterceptorsFactory,
  WorkflowInternalsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/**
 * The header the client interceptor writes (`TRACE_HEADER` of
 * @temporalio/interceptors-opentelemetry; test/tracing/one-trace.test.ts checks
 * they agree). Spelled out so that an untraced workflow loads none of its modules.
 */
export const TRACE_HEADER = '_tracer-data';

/**
 * The library's workflow interceptors, loaded on the first traced workflow. The
 * reusable V8 context evaluates a bundle's modules afresh for every workflow,
 * so importing them at the top cost every order (traced or not) about 7 ms of
 * worker CPU; webpack's `require` evaluates them only when called.
 */
function openTelemetryWorkflow(): typeof import('@temporalio/interceptors-opentelemetry/lib/workflow') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  return require('@temporalio/interceptors-opentelemetry/lib/workflow');
}

interface Traced {
  inbound: OpenTelemetryInboundInterceptor;
  outbound: OpenTelemetryOutboundInterceptor;
  internals: OpenTelemetryInternalsInterceptor;
}

/** An interceptor whose methods are those of `current()`, or none while it returns undefined. */
function delegateTo<T extends object>(current: () => object | undefined, own: Partial<T> = {}): T {
  return new Proxy(own as T, {
    get(target, method) {
      if (method in target) return Reflect.get(target, method);
      const delegate = current();
      const fn: unknown = delegate ? Reflect.get(delegate, method) : undefined;
      return typeof fn === 'function' ? fn.bind(delegate) : undefined;
    },
  });
}

export const interceptors: WorkflowInterceptorsFactory = (): WorkflowInterceptors => {
  let traced: Traced | undefined;
  const inbound = delegateTo<WorkflowInboundCallsInterceptor>(() => traced?.inbound, {
    execute(input, next) {
      if (!(TRACE_HEADER in input.headers)) return next(input);
      const otel = openTelemetryWorkflow();
      traced = {
        inbound: new otel.OpenTelemetryInboundInterceptor(),
        outbound: new otel.OpenTelemetryOutboundInterceptor(),
        internals: new otel.OpenTelemetryInternalsInterceptor(),
      };
      return traced.inbound.execute(input, next);
    },
  });
  return {
    inbound: [inbound],
    outbound: [delegateTo<WorkflowOutboundCallsInterceptor>(() => traced?.outbound)],
    internals: [delegateTo<WorkflowInternalsInterceptor>(() => traced?.internals)],
  };
};
