import { readFileSync } from 'node:fs';

/**
 * Where to reset an order of saga 0.4 that is stuck on its replay defect
 * (docs/operations.md): the WorkflowTaskCompleted event that follows
 * markCompensating's completion. Up to that task both builds issue the same
 * commands; from it on, the fixed build runs the compensations.
 *
 *   temporal workflow show -w order-<id> --output json | npx tsx scripts/reset-point.ts
 */

/** An event as `temporal workflow show --output json` prints it: ids are strings, types EVENT_TYPE_*. */
export interface JsonHistoryEvent {
  eventId: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
  activityTaskCompletedEventAttributes?: { scheduledEventId?: string };
}

/** The event id to pass to `temporal workflow reset --event-id`, or undefined when the run never reached markCompensating's completion. */
export function resetPoint(events: readonly JsonHistoryEvent[]): number | undefined {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'markCompensating');
  if (!scheduled) return undefined;
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId === scheduled.eventId);
  if (!completed) return undefined;
  const task = events.find((e) => Number(e.eventId) > Number(completed.eventId) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  return task ? Number(task.eventId) : undefined;
}

if (require.main === module) {
  const { events } = JSON.parse(readFileSync(0, 'utf8')) as { events: JsonHistoryEvent[] };
  const point = resetPoint(events);
  if (point === undefined) {
    console.error('No reset point: markCompensating has not completed in this history, so this is not the stuck-compensation case.');
    process.exit(1);
  }
  console.log(point);
}
