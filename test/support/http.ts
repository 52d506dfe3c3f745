import { expect } from 'vitest';
import { isTerminal, type OrderStatus } from '../../workflows/types';
import { waitFor } from './stack';

export interface JsonResponse {
  status: number;
  headers: Headers;
  // The tests assert on arbitrary JSON shapes; `any` keeps those assertions readable.
  body: any;
}

export async function call(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Polls GET /api/orders/:id until the order is terminal; every poll must be a 200. */
export async function untilTerminal(baseUrl: string, orderId: string, timeoutMs = 45_000) {
  return waitFor(
    `order ${orderId} to finish`,
    async () => {
      const res = await call(baseUrl, 'GET', `/api/orders/${orderId}`);
      expect(res.status).toBe(200);
      return isTerminal(res.body.status as OrderStatus) ? res.body : undefined;
    },
    timeoutMs,
  );
}

export async function untilStatus(baseUrl: string, orderId: string, status: OrderStatus, timeoutMs = 30_000) {
  return waitFor(`order ${orderId} to be ${status}`, async () => {
    const res = await call(baseUrl, 'GET', `/api/orders/${orderId}`);
    return res.body?.status === status ? res.body : undefined;
  }, timeoutMs);
}
