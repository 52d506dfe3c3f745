import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CancelResult, OrderState } from './types';

/** Live status of the current run, straight from workflow memory. */
export const orderStateQuery = defineQuery<OrderState>('orderState');

/**
 * Cancel is an Update rather than a signal so that the caller learns at once
 * whether it was accepted: the validator rejects it (NotCancellable) once the
 * order is terminal, and nothing is written to history for a rejected cancel.
 */
export const cancelOrderUpdate = defineUpdate<CancelResult>('cancelOrder');
