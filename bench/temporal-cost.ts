import { Client, Connection } from '@temporalio/client';
import { workflowIdFor } from '../workflows/types';
import { historyCost, meanCost, type HistoryCost } from './history-cost';

/**
 * The Temporal design's per-order cost on the server, beside its CPU: actions
 * (Temporal Cloud's billing unit), history events and workflow tasks, read from
 * the histories of completed orders (bench/history-cost.ts has the rule).
 */
export interface TemporalCost extends HistoryCost {
  /** Activity heartbeats that reached the server, per order: billed, but not in any history. */
  heartbeatsPerOrder: number;
  /** How many completed orders' histories were read. */
  sampled: number;
}

/** Reads up to `limit` completed orders' histories, once each run has closed. */
export async function completedOrderCost(address: string, namespace: string, orderIds: string[], limit = 100): Promise<HistoryCost & { sampled: number }> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const costs: HistoryCost[] = [];
    for (const orderId of orderIds.slice(0, limit)) {
      const handle = client.workflow.getHandle(workflowIdFor(orderId));
      // The row is COMPLETED before the confirmation runs; the history is whole once the run closes.
      await handle.result();
      costs.push(historyCost(await handle.fetchHistory()));
    }
    return { ...meanCost(costs), sampled: costs.length };
  } finally {
    await connection.close();
  }
}

/**
 * RecordActivityTaskHeartbeat requests the server has answered, from its
 * Prometheus endpoint (`temporal server start-dev --metrics-port`).
 */
export async function heartbeatRequests(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{') || !line.includes('operation="RecordActivityTaskHeartbeat"')) continue;
    if (!line.includes('service_name="frontend"')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}
