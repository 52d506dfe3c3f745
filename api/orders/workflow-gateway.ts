import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { cancelOrderUpdate } from '../../workflows/definitions';
import { CustomerIdKey, OrderAmountCentsKey, OrderStatusKey } from '../../workflows/search-attributes';
import { ErrorType, workflowIdFor, type CancelResult, type OrderInput } from '../../workflows/types';

/** What the HTTP layer needs from Temporal; the unit tests give it a recording fake. */
export interface OrderWorkflows {
  /** Durably starts the saga for one attempt; resolves once the server has recorded it. */
  start(input: OrderInput): Promise<void>;
  /** Asks the running saga to cancel; rejects with NotCancellableError once it is terminal. */
  cancel(orderId: string): Promise<CancelResult>;
  /** Waits (briefly) for the order's current run to close, so a retry can start the next one. */
  waitForClose(orderId: string, timeoutMs: number): Promise<void>;
  ping(): Promise<void>;
}

export class NotCancellableError extends Error {}
/** The call did not reach a server or a worker that could answer it in time. */
export class TemporalUnavailableError extends Error {}

// Long enough for a healthy server under load, short enough that a client
// holding the request open hears "503, try again" instead of hanging.
const CALL_DEADLINE_MS = 5_000;
// Readiness probes are frequent and must answer before the prober gives up.
const PING_DEADLINE_MS = 2_000;

export interface GatewayOptions {
  /**
   * Ask the server to hand the first workflow task straight back to a worker on
   * this client's connection. Only works when the client is built on the
   * worker's NativeConnection in the same process (the benchmark measures it).
   */
  eagerStart?: boolean;
}

export function temporalOrderWorkflows(client: Client, taskQueue: string, options: GatewayOptions = {}): OrderWorkflows {
  const withDeadline = <T>(fn: () => Promise<T>, ms = CALL_DEADLINE_MS): Promise<T> =>
    client.withDeadline(Date.now() + ms, fn).catch((err: unknown) => {
      throw isUnavailable(err) ? new TemporalUnavailableError(String((err as Error).message ?? err)) : err;
    });

  /**
   * Whether this attempt's run exists: for a first attempt, any run of the
   * order's workflow id; for a retry, a running one (the previous attempt had
   * closed before the retry was started). False when the server cannot say.
   */
  const runExists = async (input: OrderInput): Promise<boolean> => {
    try {
      const run = await withDeadline(() => client.workflow.getHandle(workflowIdFor(input.orderId)).describe(), PING_DEADLINE_MS);
      return input.attempt === 1 || run.status.name === 'RUNNING';
    } catch {
      return false;
    }
  };

  return {
    async start(input) {
      try {
        await withDeadline(() =>
          client.workflow.start('orderSaga', {
            workflowId: workflowIdFor(input.orderId),
            taskQueue,
            args: [input],
            // The first run of an order may never run twice; a retry may follow a closed run.
            workflowIdReusePolicy: input.attempt === 1 ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
            requestEagerStart: options.eagerStart,
            typedSearchAttributes: [
              { key: OrderStatusKey, value: 'PENDING' },
              { key: CustomerIdKey, value: input.customerId },
              { key: OrderAmountCentsKey, value: input.amountCents },
            ],
          }),
        );
      } catch (err) {
        // Started by an earlier request whose reply or commit was lost: that
        // run is this order's run, so the start has already happened.
        if (err instanceof WorkflowExecutionAlreadyStartedError && input.attempt === 1) return;
        // A deadline that expired on an overloaded server is ambiguous: the start
        // may have been persisted after we stopped waiting. If the run exists,
        // the order is accepted (and its first activity would write the row
        // anyway); answering 503 then would hide an order that goes ahead.
        if (err instanceof TemporalUnavailableError && (await runExists(input))) return;
        throw err;
      }
    },

    async cancel(orderId) {
      const handle = client.workflow.getHandle(workflowIdFor(orderId));
      try {
        return await withDeadline(() => handle.executeUpdate(cancelOrderUpdate));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
          if (err.cause.type === ErrorType.NotCancellable) throw new NotCancellableError(err.cause.message);
        }
        // Update on a closed (or purged) run: nothing is left to cancel.
        if (err instanceof WorkflowNotFoundError) throw new NotCancellableError('The order has already finished.');
        throw err;
      }
    },

    async waitForClose(orderId, timeoutMs) {
      const handle = client.workflow.getHandle(workflowIdFor(orderId));
      await client
        .withDeadline(Date.now() + timeoutMs, () => handle.result())
        .catch(() => undefined); // closed with a failure, purged, or still closing: the caller re-checks
    },

    async ping() {
      await withDeadline(() => client.workflowService.getSystemInfo({}), PING_DEADLINE_MS);
    },
  };
}

function isUnavailable(err: unknown): boolean {
  if (!isGrpcServiceError(err)) {
    const cause = (err as { cause?: unknown })?.cause;
    return cause !== undefined && cause !== err && isUnavailable(cause);
  }
  // UNAVAILABLE (14), DEADLINE_EXCEEDED (4)
  return err.code === 14 || err.code === 4;
}
