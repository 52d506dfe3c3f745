import type { OrderActivities } from '../../activities';

export type ActivityName = keyof OrderActivities;

export interface Call {
  name: ActivityName;
  args: unknown[];
}

/**
 * In-memory stand-ins for the saga's activities, for the time-skipping tests:
 * every call is recorded in order; `overrides` replace single activities to
 * fail, block or succeed after some attempts. `claimable: false` is an order
 * the API withdrew: claimOrder and the claim of claimAndReserve are both
 * refused, as PostgreSQL refuses them (store/orders.ts markStarted).
 */
export function fakeActivities(overrides: Partial<OrderActivities> = {}, { claimable = true } = {}) {
  const calls: Call[] = [];
  const noop = async () => undefined;
  const base: OrderActivities = {
    claimOrder: async () => claimable,
    recordOrder: noop,
    reserveInventory: noop,
    // As in production: the claim, then the reserve step (an override of reserveInventory applies).
    claimAndReserve: async (ref) => {
      if (!claimable) return 'NOT_CLAIMED';
      await impl.reserveInventory(ref);
      return 'RESERVED';
    },
    releaseInventory: noop,
    chargePayment: noop,
    refundPayment: noop,
    completeOrder: noop,
    markCompensating: async () => ({ status: 'COMPENSATING', failureReason: null }),
    finishOrder: noop,
    sendNotification: noop,
  };
  const impl = { ...base, ...overrides };
  const activities = Object.fromEntries(
    (Object.keys(impl) as ActivityName[]).map((name) => [
      name,
      (...args: unknown[]) => {
        calls.push({ name, args });
        return (impl[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    ]),
  ) as unknown as OrderActivities;
  const names = () => calls.map((c) => c.name);
  const count = (name: ActivityName) => calls.filter((c) => c.name === name).length;
  return { activities, calls, names, count };
}

/** A promise with its resolve function, for "the activity has started" handshakes. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
