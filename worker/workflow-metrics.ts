// Runs inside the workflow sandbox (bundled with the workflow code): imports only
// types and @temporalio/workflow, like the saga itself.
import {
  metricMeter,
  workflowInfo,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { OrderState } from '../workflows/types';
import { ORDER_METRICS } from './order-metric-names';

/**
 * The saga's business metrics, on the worker's Prometheus endpoint beside the
 * SDK's temporal_* series. Recorded from the workflow (not the activities)
 * because only the workflow knows how an order ended and when it started; the
 * SDK's workflow meter emits nothing while a history is replayed, so an order is
 * counted once however often its run is replayed or moves between workers.
 */
/** The saga's undo steps (activities/index.ts CompensationActivities). */
const COMPENSATIONS = new Set(['releaseInventory', 'refundPayment']);

const finished = metricMeter.createCounter(ORDER_METRICS.finished, 'orders', 'Sagas ended, by final order status and failure reason');
const duration = metricMeter.createHistogram(ORDER_METRICS.duration, 'int', 'ms', 'Saga run time from workflow start to final status');
const compensations = metricMeter.createCounter(ORDER_METRICS.compensations, 'steps', 'Compensation steps completed, by step');

class SagaOutcomeMetrics implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const result = (await next(input)) as Partial<OrderState> | undefined;
    // A run that found its order withdrawn (the API answered 503) ran no saga.
    const status = result?.abandoned ? 'ABANDONED' : (result?.status ?? 'UNKNOWN');
    const tags = { status, failure_reason: result?.failureReason ?? 'none' };
    finished.add(1, tags);
    // Workflow time (deterministic): runStartTime is this attempt's start, a retried order's new run included.
    duration.record(Date.now() - workflowInfo().runStartTime.getTime(), { status });
    return result;
  }
}

class CompensationMetrics implements WorkflowOutboundCallsInterceptor {
  async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    return countCompensation(input.activityType, () => next(input));
  }

  async scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ): Promise<unknown> {
    return countCompensation(input.activityType, () => next(input));
  }
}

async function countCompensation(activityType: string, run: () => Promise<unknown>): Promise<unknown> {
  const result = await run();
  if (COMPENSATIONS.has(activityType)) compensations.add(1, { step: activityType });
  return result;
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new SagaOutcomeMetrics()],
  outbound: [new CompensationMetrics()],
});
