/**
 * What the driver sent and what it was answered: the client's side of the
 * truth, which the checks hold against PostgreSQL and Temporal.
 */
export interface Reply {
  /** 0: no answer (connection refused or reset, timeout). */
  status: number;
  code?: string;
  /** No answer because the connection was refused (nothing reached the API). */
  refused?: boolean;
}

export interface Placement {
  /** The Idempotency-Key sent; null when the request carried none. */
  key: string | null;
  /** Every answer to this order's requests (retries with the same key included), in order. */
  replies: Reply[];
  /** From the 202. */
  orderId?: string;
  /**
   * accepted: a 202. unavailable: the last answer was 503 TEMPORAL_UNAVAILABLE,
   * which promises that no order exists. refused: a 4xx (nothing done).
   * ambiguous: no definitive answer (an unanswered request without a key, which
   * a client cannot safely repeat, or a keyed one the driver gave up on).
   */
  outcome: 'accepted' | 'unavailable' | 'refused' | 'ambiguous';
}

/** The same Idempotency-Key sent again after its 202, with the same body or another. */
export interface KeyRepeat {
  key: string;
  sameBody: boolean;
  firstOrderId: string;
  reply: Reply;
  orderId?: string;
}

export interface CancelRequest {
  orderId: string;
  delayMs: number;
  replies: Reply[];
  /** Some answer was 202: the order must end CANCELLED with nothing charged. */
  accepted: boolean;
}

export interface PaymentRetry {
  orderId: string;
  reply: Reply;
}

export interface Ledger {
  placements: Placement[];
  repeats: KeyRepeat[];
  cancels: CancelRequest[];
  retries: PaymentRetry[];
}

export const emptyLedger = (): Ledger => ({ placements: [], repeats: [], cancels: [], retries: [] });
