import { readFileSync } from 'node:fs';

/**
 * Where to reset an order of saga 0.4 that is stuck on its replay defect
 * (docs/operations.md): the workflow task that scheduled the run's first local
 * activity, which is the task that handled the activity result just before it.
 * Saga 0.4 and later builds issue the same commands up to that task (regular
 * activities, timers, Updates); from there on 0.4 ran local activities (the
 * claim's confirmation, the compensations, the final status) where later builds
 * run regular activities.
 *
 *   temporal workflow show -w order-<id> --output json | npx tsx scripts/reset-point.ts
 */

/** An event as `temporal workflow show --output json` prints it: ids are strings, types EVENT_TYPE_*. */
export interface JsonHistoryEvent {
  eventId: string;
  eventType: string;
  workflowTaskCompletedEventAttributes?: { deploymentVersion?: { buildId?: string } };
}

const ACTIVITY_RESULTS = new Set([
  'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
  'EVENT_TYPE_ACTIVITY_TASK_FAILED',
  'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT',
  'EVENT_TYPE_ACTIVITY_TASK_CANCELED',
]);

export type ResetPoint = { eventId: number } | { refused: string };

/** The event id to pass to `temporal workflow reset --event-id`, or why this history is not the case it is for. */
export function resetPoint(events: readonly JsonHistoryEvent[]): ResetPoint {
  const builds = new Set(events.map((e) => e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId).filter(Boolean));
  if (![...builds].every((b) => b!.startsWith('0.4.'))) {
    return { refused: `written by build ${[...builds].join(', ') || '(none)'}, not saga 0.4: this procedure is for 0.4's runs only` };
  }
  const id = (e: JsonHistoryEvent) => Number(e.eventId);
  const marker = events.find((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED');
  if (!marker) return { refused: 'no local activity ran: the run is not stuck on the local-activity defect' };
  const result = events.filter((e) => id(e) < id(marker) && ACTIVITY_RESULTS.has(e.eventType)).at(-1);
  if (!result) return { refused: 'no activity result before the first local activity' };
  const task = events.find((e) => id(e) > id(result) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  if (!task || id(task) > id(marker)) return { refused: 'no completed workflow task between the activity result and the local activity' };
  return { eventId: id(task) };
}

if (require.main === module) {
  const { events } = JSON.parse(readFileSync(0, 'utf8')) as { events: JsonHistoryEvent[] };
  const point = resetPoint(events);
  if ('refused' in point) {
    console.error(`No reset point: ${point.refused}.`);
    process.exit(1);
  }
  console.log(point.eventId);
}
