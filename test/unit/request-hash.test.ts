import { afterEach, describe, expect, it } from 'vitest';
import { requestHash } from '../../api/orders/order-service';

/**
 * The request hash decides whether a repeated Idempotency-Key is a replay (same
 * order) or a reuse (422). Two API processes must hash one body alike whatever
 * their locale or ICU version, so lines are ordered by code point.
 */

const original = String.prototype.localeCompare;
afterEach(() => {
  String.prototype.localeCompare = original;
});

/** Makes this process collate as if its locale were `locale`, as another API process may. */
function collateAs(locale: string): void {
  const collator = new Intl.Collator(locale);
  String.prototype.localeCompare = function (this: string, that: string) {
    return collator.compare(this, that);
  };
}

const body = {
  customerId: 'c-1',
  paymentMethod: 'pm_card_visa',
  // Swedish sorts "ä" after "z"; English sorts it with "a".
  items: [
    { productId: 'sku-z', quantity: 1 },
    { productId: 'sku-ä', quantity: 2 },
    { productId: 'SKU-b', quantity: 3 },
  ],
};

describe('requestHash', () => {
  it('is the same in every locale', () => {
    collateAs('en');
    const english = requestHash(body);
    collateAs('sv');
    const swedish = requestHash(body);
    collateAs('de');
    expect(swedish).toBe(english);
    expect(requestHash(body)).toBe(english);
  });

  it('ignores line order but not content', () => {
    const reversed = { ...body, items: [...body.items].reverse() };
    expect(requestHash(reversed)).toBe(requestHash(body));
    expect(requestHash({ ...body, items: [{ productId: 'sku-z', quantity: 2 }] })).not.toBe(requestHash(body));
  });

  it('orders lines with the same product by quantity, so their order does not matter either', () => {
    const a = { ...body, items: [{ productId: 'p', quantity: 1 }, { productId: 'p', quantity: 2 }] };
    const b = { ...body, items: [{ productId: 'p', quantity: 2 }, { productId: 'p', quantity: 1 }] };
    expect(requestHash(a)).toBe(requestHash(b));
  });
});
