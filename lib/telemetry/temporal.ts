import path from 'node:path';
import type { ClientInterceptors } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import type { Tracing } from './tracing';

/**
 * Temporal's side of tracing: the client interceptor that starts a span around
 * StartWorkflow and carries its context in the workflow's headers, the activity
 * interceptors that continue it, and the sink through which workflow spans leave
 * the sandbox. All of it only while tracing is on.
 */

/** Resolved by webpack, so without extension: .ts from source, .js in dist/. */
export const TRACING_WORKFLOW_INTERCEPTOR_MODULES = [path.join(__dirname, 'workflow-interceptors')];

export function tracingClientInterceptors(tracing: Tracing | undefined): ClientInterceptors | undefined {
  return tracing ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/**
 * Activity interceptors and the workflow span sink. The sink is registered even
 * with tracing off, as a no-op: a workflow started by a traced API makes spans on
 * any worker, and an unregistered sink would log an error for each.
 */
export function tracingWorkerOptions(tracing: Tracing | undefined): {
  activityInterceptors: NonNullable<NonNullable<WorkerOptions['interceptors']>['activity']>;
  sinks: InjectedSinks<OpenTelemetrySinks>;
} {
  if (!tracing) return { activityInterceptors: [], sinks: { exporter: { export: { fn: () => undefined } } } };
  return {
    activityInterceptors: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
