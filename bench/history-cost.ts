import { temporal } from '@temporalio/proto';

/**
 * What one workflow run cost the server, read from its event history, so the
 * benchmark and the tests count the same way (docs/benchmarks.md, "Actions per
 * order", states the rule with its source).
 *
 * Actions follow Temporal Cloud's billing rules: the start; every activity
 * attempt; one per workflow task that recorded local activity markers; every
 * timer; every search-attribute upsert except one touching only
 * TemporalChangeVersion (exempt); every signal and accepted update. Activity
 * heartbeats that reach the server are billed too, but leave no event: the
 * benchmark counts them from the server's request metrics instead
 * (`heartbeatsPerOrder`). Queries and rejected updates leave no event either.
 */
export interface HistoryCost {
  actions: number;
  /** Actions by kind, so a change in the total says where it came from. */
  actionsByKind: Record<string, number>;
  events: number;
  /** Workflow tasks started, including failed and timed-out attempts. */
  workflowTasks: number;
}

const T = temporal.api.enums.v1.EventType;
const CHANGE_VERSION = 'TemporalChangeVersion';
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

export function historyCost(history: temporal.api.history.v1.IHistory): HistoryCost {
  const events = history.events ?? [];
  const kinds: Record<string, number> = {};
  const add = (kind: string, n = 1) => {
    if (n > 0) kinds[kind] = (kinds[kind] ?? 0) + n;
  };
  const tasksWithLocalActivities = new Set<string>();
  let workflowTasks = 0;
  for (const e of events) {
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        add('workflow started');
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        workflowTasks++;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // Written once, when the activity closes, with the attempt it closed on.
        add('activity attempts', Math.max(1, e.activityTaskStartedEventAttributes?.attempt ?? 1));
        break;
      case T.EVENT_TYPE_MARKER_RECORDED: {
        const attrs = e.markerRecordedEventAttributes;
        if (attrs?.markerName === LOCAL_ACTIVITY_MARKER) tasksWithLocalActivities.add(String(attrs.workflowTaskCompletedEventId));
        break;
      }
      case T.EVENT_TYPE_TIMER_STARTED:
        add('timers');
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        if (fields.some((f) => f !== CHANGE_VERSION)) add('search attribute upserts');
        break;
      }
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        add('signals');
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        add('updates');
        break;
      default:
        break;
    }
  }
  add('workflow tasks with local activities', tasksWithLocalActivities.size);
  const actions = Object.values(kinds).reduce((sum, n) => sum + n, 0);
  return { actions, actionsByKind: kinds, events: events.length, workflowTasks };
}

/** Mean of each figure over several runs, e.g. every completed order of a phase. */
export function meanCost(costs: HistoryCost[]): HistoryCost {
  const n = Math.max(1, costs.length);
  const kinds: Record<string, number> = {};
  for (const c of costs) for (const [k, v] of Object.entries(c.actionsByKind)) kinds[k] = (kinds[k] ?? 0) + v / n;
  const mean = (pick: (c: HistoryCost) => number) => costs.reduce((sum, c) => sum + pick(c), 0) / n;
  return { actions: mean((c) => c.actions), actionsByKind: kinds, events: mean((c) => c.events), workflowTasks: mean((c) => c.workflowTasks) };
}
