/**
 * Types and constants shared by the workflow, its activities, the API and the tests.
 * This file must stay free of runtime imports: it is bundled into the workflow sandbox.
 */

export const ORDER_STATUSES = [
  'PENDING',
  'RESERVED',
  'PAID',
  'COMPLETED',
  'COMPENSATING',
  'FAILED',
  'CANCELLED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const TERMINAL_STATUSES: readonly OrderStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export const FAILURE_REASONS = [
  'OUT_OF_STOCK',
  'PAYMENT_DECLINED',
  'PAYMENT_UNAVAILABLE',
  'CANCELLED_BY_CUSTOMER',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/**
 * `ApplicationFailure.type` values. Business outcomes are non-retryable; the
 * transient type is what the simulated providers throw and Temporal retries.
 */
export const ErrorType = {
  OutOfStock: 'OutOfStock',
  PaymentDeclined: 'PaymentDeclined',
  ProviderUnavailable: 'ProviderUnavailable',
  /** Thrown by the saga itself when the provider stayed unavailable past the payment budget. */
  PaymentBudgetExhausted: 'PaymentBudgetExhausted',
  /** A charge arrived after its compensation had cancelled the payment: nothing was taken. */
  PaymentCanceled: 'PaymentCanceled',
  NotCancellable: 'NotCancellable',
  OrderNotFound: 'OrderNotFound',
} as const;

/** What a ProviderUnavailable failure of the payment step carries for the budget. */
export interface ProviderFailureDetails {
  callMs: number;
}

export interface OrderLine {
  productId: string;
  quantity: number;
  /** Unit price copied from the catalogue when the order was accepted. */
  priceCents: number;
}

/** Everything the saga needs, fixed when the order is accepted. */
export interface OrderInput {
  orderId: string;
  customerId: string;
  items: OrderLine[];
  amountCents: number;
  paymentMethod: string;
  /** 1 for the first run; POST /retry starts run N+1 of the same order. */
  attempt: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  /** How long the payment step may retry a failing provider (PAYMENT_BUDGET_MS). */
  paymentBudgetMs: number;
  /**
   * The token of the API request that committed this attempt's row as STARTING
   * (the start fence, docs/saga.md). The run claims the row only under it, so a
   * run left over from a request that was answered 503 can never claim an
   * attempt a later request committed. Null for rows written without a token.
   */
  startToken?: string | null;
}

/** What activities need to find the order's effects: they are keyed by both. */
export interface OrderRef {
  orderId: string;
  attempt: number;
}

/** Live view of one run, answered by the status query and returned as the result. */
export interface OrderState {
  orderId: string;
  attempt: number;
  status: OrderStatus;
  failureReason: FailureReason | null;
  cancelRequested: boolean;
  /**
   * True for a run that found its order withdrawn: the API answered 503 because
   * the start looked failed, and this run, started after all, did nothing.
   */
  abandoned?: boolean;
}

/** What the reserve step answers: it claims the order for the run, then reserves. */
export type ReserveOutcome = 'RESERVED' | 'NOT_CLAIMED';

/** An order's status as PostgreSQL holds it. */
export interface RecordedStatus {
  status: OrderStatus;
  failureReason: FailureReason | null;
}

export interface CancelResult {
  orderId: string;
  status: OrderStatus;
}

export function workflowIdFor(orderId: string): string {
  return `order-${orderId}`;
}
