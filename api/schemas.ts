import { z } from 'zod';
import { FAILURE_REASONS, ORDER_STATUSES } from '../workflows/types';
import { HttpError } from './errors';

/** Ids travel in URLs and workflow ids: keep them to a safe, bounded alphabet. */
const id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-" only');

export const productIdParam = id;

export const productBody = z.strictObject({
  name: z.string().trim().min(1).max(200).meta({ description: 'Trimmed before the length check: blank names are rejected.' }),
  priceCents: z.number().int().min(0).max(100_000_000),
  stock: z.number().int().min(0).max(1_000_000_000),
});

export const createOrderBody = z.strictObject({
  customerId: id,
  items: z
    .array(z.strictObject({ productId: id, quantity: z.number().int().min(1).max(1000) }))
    .min(1)
    .max(50)
    .refine((items) => new Set(items.map((i) => i.productId)).size === items.length, {
      message: 'each productId may appear once; put the total in quantity',
    })
    // JSON Schema cannot say "unique by productId", so the document says it in words.
    .meta({ description: 'Each productId may appear once; put the total in quantity.' }),
  paymentMethod: z
    .string()
    .regex(/^pm_[A-Za-z0-9_]{1,60}$/, 'a payment method id such as "pm_card_visa"')
    .default('pm_card_visa'),
});
export type CreateOrderBody = z.infer<typeof createOrderBody>;

export const orderIdParam = z.uuid({ message: 'order ids are UUIDs' });

export const listOrdersQuery = z.strictObject({
  status: z.enum(ORDER_STATUSES).optional(),
  failureReason: z.enum(FAILURE_REASONS).optional(),
  customerId: id.optional(),
  // A string, not z.coerce.boolean(): that reads "false" as true.
  startConfirmed: z
    .enum(['true', 'false'])
    .optional()
    .meta({ description: '`false`: only orders whose workflow start is not confirmed (see `startConfirmed` in the answer).' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Header value per the IETF draft: a client-chosen string, bounded. */
export const idempotencyKeyHeader = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** Parses `value` or throws 400 VALIDATION_FAILED listing every problem. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new HttpError(
    400,
    'VALIDATION_FAILED',
    `Invalid ${what}.`,
    result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  );
}
