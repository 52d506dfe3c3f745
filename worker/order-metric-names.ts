/**
 * The saga's own series on the worker's /metrics (recorded by
 * worker/workflow-metrics.ts in the workflow sandbox), beside the runtime's
 * temporal_* series. The runtime adds the labels namespace, taskQueue and
 * workflowType (its own series say task_queue), and exports the histogram as
 * <name>_bucket/_sum/_count, in milliseconds like its own.
 */
export const ORDER_METRICS = {
  /** Counter; labels status (COMPLETED, FAILED, CANCELLED, ABANDONED) and failure_reason ("none" when there is none). */
  finished: 'order_saga_finished_total',
  /** Histogram in ms, workflow start to final status; label status. */
  duration: 'order_saga_duration_ms',
  /** Counter; label step (releaseInventory, refundPayment). */
  compensations: 'order_saga_compensations_total',
} as const;
