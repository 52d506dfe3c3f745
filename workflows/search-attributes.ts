import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

// Declared as plain objects (not with defineSearchAttributeKey) so that workflow
// code keeps to type-only imports besides @temporalio/workflow.
export const OrderStatusKey: SearchAttributeKey<'KEYWORD'> = { name: 'OrderStatus', type: 'KEYWORD' };
export const CustomerIdKey: SearchAttributeKey<'KEYWORD'> = { name: 'CustomerId', type: 'KEYWORD' };
export const OrderAmountCentsKey: SearchAttributeKey<'INT'> = { name: 'OrderAmountCents', type: 'INT' };

/** Registered on the dev server at start and checked by the worker on any server. */
export const ORDER_SEARCH_ATTRIBUTES = [OrderStatusKey, CustomerIdKey, OrderAmountCentsKey] as const;
