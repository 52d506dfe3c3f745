import { z } from 'zod';
import { FAILURE_REASONS, ORDER_STATUSES } from '../workflows/types';
import { productBody, productIdParam } from './schemas';

/**
 * What the API answers, as zod schemas. They exist for the OpenAPI document
 * (api/openapi.ts) and for the contract test that parses real answers with them;
 * the routes do not parse their own output at run time. Objects are strict so
 * that a field added to an answer without being documented fails that test.
 * `.meta({ id })` names a schema in the document's components, referenced by $ref.
 */

const cents = z.number().int().min(0);
const timestamp = z.iso.datetime({ offset: true });

export const orderStatus = z.enum(ORDER_STATUSES).meta({ id: 'OrderStatus' });

const errorFields = {
  message: z.string().meta({ description: 'Human-readable explanation.' }),
  details: z.unknown().optional().meta({
    description: 'Code-specific context, e.g. VALIDATION_FAILED lists `[{path, message}]`, UNKNOWN_PRODUCT `{productIds}`.',
  }),
};

/** Any error answer. */
export const errorEnvelope = z.strictObject({
  error: z.strictObject({
    code: z.string().meta({ description: 'Stable machine-readable code; each response names the codes it can carry.' }),
    ...errorFields,
  }),
}).meta({ id: 'Error' });

/** An error answer of one response in the document: `code` is one of `codes` (api/contract.ts). */
export const errorEnvelopeFor = (codes: readonly [string, ...string[]]) =>
  z.strictObject({
    error: z.strictObject({ code: z.enum(codes).meta({ description: 'Stable machine-readable code.' }), ...errorFields }),
  });

export const product = z.strictObject({ id: productIdParam, ...productBody.shape }).meta({ id: 'Product' });

export const productList = z.strictObject({ products: z.array(product) });

export const orderLinks = z.strictObject({
  self: z.string().meta({ example: '/api/orders/6d1c0a4e-2b7f-4f39-9a51-0c1f7e0b9a11' }),
  cancel: z.string(),
  retry: z.string(),
  temporalUi: z.string().meta({ description: "The workflow's page in the Temporal Web UI (TEMPORAL_UI_URL)." }),
}).meta({ id: 'OrderLinks' });

export const orderView = z.strictObject({
  orderId: z.uuid(),
  customerId: z.string(),
  items: z.array(
    z.strictObject({
      productId: z.string(),
      quantity: z.number().int().min(1),
      priceCents: cents.meta({ description: 'Unit price copied from the catalogue when the order was accepted.' }),
    }),
  ),
  amountCents: cents,
  status: orderStatus,
  failureReason: z.enum(FAILURE_REASONS).nullable(),
  payment: z.strictObject({ chargedCents: cents, refundedCents: cents }),
  notifications: z.array(z.strictObject({ type: z.string().meta({ example: 'order_confirmed' }), sentAt: timestamp })),
  history: z
    .array(
      z.strictObject({
        status: orderStatus,
        at: timestamp,
        reason: z.enum(FAILURE_REASONS).optional().meta({ description: 'The failure reason from this change on; absent when none.' }),
      }),
    )
    .meta({
      description:
        'Every status change, oldest first, written in PostgreSQL in the same transaction as the change. A retry shows as ' +
        'FAILED, then PENDING again (a new attempt).',
    }),
  startConfirmed: z.boolean().meta({
    description:
      "Whether the workflow start of the order's current attempt is confirmed. False for a moment after a 202; false for " +
      'longer only when the request that placed (or retried) it was never answered: the API withdraws such an attempt ' +
      'after 30 s unless its run claimed it. `GET /api/orders?startConfirmed=false` lists them.',
  }),
  createdAt: timestamp,
  updatedAt: timestamp,
  links: orderLinks,
}).meta({ id: 'Order' });

export const orderList = z.strictObject({ orders: z.array(orderView) });

export const placedOrder = z.strictObject({ orderId: z.uuid(), status: orderStatus, links: orderLinks }).meta({ id: 'PlacedOrder' });

export const cancelledOrder = z.strictObject({ orderId: z.uuid(), status: orderStatus });

export const retriedOrder = z.strictObject({
  orderId: z.uuid(),
  status: orderStatus,
  attempt: z.number().int().min(2).meta({ description: 'The run number this retry started.' }),
  links: orderLinks,
});

export const callerView = z.strictObject({
  name: z.string().nullable().meta({ description: "The key's caller name (API_KEYS); null while the API runs without API_KEYS." }),
  admin: z.boolean().meta({ description: 'Sees every order and may write the catalogue; every caller is, while the API is open.' }),
}).meta({ id: 'Caller' });

export const health = z.strictObject({ status: z.literal('ok') });

export const readiness = z.strictObject({
  status: z.enum(['ready', 'not ready']),
  checks: z.strictObject({
    postgres: z.enum(['ok', 'unavailable']).meta({ description: 'The reason is logged, never answered.' }),
    temporal: z.enum(['ok', 'unavailable']).meta({ description: 'The reason is logged, never answered.' }),
  }),
});
