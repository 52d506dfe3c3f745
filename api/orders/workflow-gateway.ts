import {
  NamespaceNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { status } from '@grpc/grpc-js';
import { cancelOrderUpdate } from '../../workflows/definitions';
import type { orderSaga } from '../../workflows/order-saga';
import { ensureSearchAttributes } from '../../lib/temporal/connection';
import { CustomerIdKey, OrderAmountCentsKey, OrderStatusKey } from '../../workflows/search-attributes';
import { ErrorType, workflowIdFor, type CancelResult, type OrderInput } from '../../workflows/types';

/**
 * How a start ended, as far as the server told us. RUNNING_ALREADY: a run with
 * this workflow id is open (an earlier try of the same start that landed, or a
 * run of an earlier request, still closing); `runningAttempt` says which attempt it runs.
 */
export type StartOutcome =
  | { kind: 'STARTED'; /** The new run's first run id: the run the API may claim the row for. */ runId: string }
  | { kind: 'RUNNING_ALREADY'; runningAttempt: number | undefined };

/** What the HTTP layer needs from Temporal; the unit tests give it a recording fake. */
export interface OrderWorkflows {
  /**
   * Starts the saga for one attempt; resolves once the server has recorded it.
   * Rejects with TemporalUnavailableError when the server did not answer in
   * time: the start may then still have happened (the caller's fence decides).
   */
  start(input: OrderInput): Promise<StartOutcome>;
  /**
   * Asks the running saga to cancel; rejects with NotCancellableError once it is
   * terminal or compensating, WorkflowClosedError when no run is open.
   */
  cancel(orderId: string): Promise<CancelResult>;
  /** Waits (briefly) for the order's current run to close, so a retry can start the next one. */
  waitForClose(orderId: string, timeoutMs: number): Promise<void>;
  ping(): Promise<void>;
}

export class NotCancellableError extends Error {}
/** No run of the order's workflow is open (it closed, was terminated, or its history was purged). */
export class WorkflowClosedError extends Error {}
/** The call did not reach a server or a worker that could answer it in time. */
export class TemporalUnavailableError extends Error {}
/**
 * The namespace lacks the order search attributes and the server refused to
 * register them (PERMISSION_DENIED on Temporal Cloud, a role without operator
 * rights): no start can succeed until someone registers them. Its `cause` is the
 * server's refusal, which names the gRPC status the client hears.
 */
export class SearchAttributesRefusedError extends Error {}

// Long enough for a healthy server under load, short enough that a client
// holding the request open hears an answer instead of hanging.
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

  /** The attempt of the open run, from its memo; undefined when none is open or the server cannot say. */
  const runningAttempt = async (orderId: string): Promise<number | undefined> => {
    try {
      const run = await withDeadline(() => client.workflow.getHandle(workflowIdFor(orderId)).describe(), PING_DEADLINE_MS);
      const attempt = run.memo?.attempt;
      return run.status.name === 'RUNNING' && typeof attempt === 'number' ? attempt : undefined;
    } catch {
      return undefined;
    }
  };

  const startOnce = async (input: OrderInput): Promise<StartOutcome> => {
    try {
      const handle = await withDeadline(() =>
        client.workflow.start<typeof orderSaga>('orderSaga', {
          workflowId: workflowIdFor(input.orderId),
          taskQueue,
          args: [input],
          // A closed run of this id never blocks a start: the API starts a run
          // only for a row it has just committed, and a run acts only on the
          // row it claims (docs/saga.md), so a closed run is an earlier attempt
          // or a run that found its order withdrawn. An open run makes the start
          // fail instead (the default conflict policy), and is reported.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          requestEagerStart: options.eagerStart,
          memo: { attempt: input.attempt },
          // Shown in the Web UI's workflow list and page: what the order is at a glance.
          staticSummary: orderSummary(input),
          typedSearchAttributes: [
            { key: OrderStatusKey, value: 'PENDING' },
            { key: CustomerIdKey, value: input.customerId },
            { key: OrderAmountCentsKey, value: input.amountCents },
          ],
        }),
      );
      return { kind: 'STARTED', runId: handle.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        return { kind: 'RUNNING_ALREADY', runningAttempt: await runningAttempt(input.orderId) };
      }
      throw err;
    }
  };

  // Registered at most once per process, and only when a start found them missing.
  let registering: Promise<unknown> | undefined;
  // A refusal is kept until the process restarts: asking again costs every POST a
  // call to the operator service for an answer that does not change by itself.
  // Registering them by hand needs no restart (starts then succeed and never ask);
  // granting the API's role operator rights instead does.
  let refused: SearchAttributesRefusedError | undefined;
  const registerSearchAttributes = (err: unknown): Promise<unknown> => {
    if (refused) return Promise.reject(refused);
    registering ??= withDeadline(() => ensureSearchAttributes(client, client.options.namespace)).catch((registerErr: unknown) => {
      registering = undefined;
      const what = `The namespace lacks the order search attributes (${(err as Error).message}) and registering them failed (${(registerErr as Error).message})`;
      // Timed out or unreachable: nothing was started, and the next order asks again.
      if (registerErr instanceof TemporalUnavailableError) throw new TemporalUnavailableError(`${what}.`);
      const refusal = new SearchAttributesRefusedError(`${what}; register them (docs/operations.md).`, { cause: registerErr });
      // Only the server's own answer is final; anything else (a bug of ours) is not remembered.
      if (grpcErrorIn(registerErr) !== undefined) refused = refusal;
      throw refusal;
    });
    return registering;
  };

  return {
    async start(input) {
      try {
        return await startOnce(input);
      } catch (err) {
        // A namespace the setup step (or a worker) has not prepared yet: register, then start once more.
        if (!lacksSearchAttributes(err)) throw err;
        await registerSearchAttributes(err);
        return startOnce(input);
      }
    },

    async cancel(orderId) {
      const handle = client.workflow.getHandle(workflowIdFor(orderId));
      try {
        return await withDeadline(() => handle.executeUpdate(cancelOrderUpdate));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
          if (err.cause.type === ErrorType.NotCancellable) throw new NotCancellableError(err.cause.message);
          // Accepted, then the run closed before the handler answered (an operator terminated it).
          if (err.cause.type === 'AcceptedUpdateCompletedWorkflow') throw new WorkflowClosedError(err.cause.message);
        }
        // Update on a closed (or purged) run: no saga is there to carry a cancel out.
        // Whether the order finished is for the database to say (order-service.ts).
        if (err instanceof WorkflowNotFoundError) throw new WorkflowClosedError(err.message);
        // The call was cut off before its answer (the server restarted, the connection
        // dropped): the Update may or may not have reached the workflow.
        if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw new TemporalUnavailableError(err.message);
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

/** "2 items · 49.80 · customer c-1" (attempt 2 says so). */
export function orderSummary(input: OrderInput): string {
  const units = input.items.reduce((n, i) => n + i.quantity, 0);
  const parts = [`${units} item${units === 1 ? '' : 's'}`, (input.amountCents / 100).toFixed(2), `customer ${input.customerId}`];
  if (input.attempt > 1) parts.push(`attempt ${input.attempt}`);
  return parts.join(' · ');
}

/** The server refused a start because the namespace has no such search attribute (INVALID_ARGUMENT). */
function lacksSearchAttributes(err: unknown): boolean {
  return [...causeChain(err)].some((e) => isGrpcServiceError(e) && e.code === 3 && /search attribute/i.test(e.message));
}

/** `err`, then its cause, that one's cause, and so on: the SDK wraps the server's gRPC error. */
function* causeChain(err: unknown): Generator<unknown> {
  for (let e: unknown = err; e !== undefined && e !== null; ) {
    yield e;
    const cause: unknown = (e as { cause?: unknown }).cause;
    e = cause === e ? undefined : cause;
  }
}

/** The first gRPC error the server answered with, in `err`'s cause chain. */
function grpcErrorIn(err: unknown) {
  for (const e of causeChain(err)) if (isGrpcServiceError(e)) return e;
  return undefined;
}

/**
 * What made a start fail, for the client's answer once the order is withdrawn:
 * the gRPC status name (UNAUTHENTICATED for an expired key, PERMISSION_DENIED,
 * NOT_FOUND for a missing namespace) or, for a failure before any call (a
 * payload codec error), the error's name.
 */
export function startFailureCause(err: unknown): string {
  // The client turns a missing namespace into an error of its own, without the gRPC status.
  if (err instanceof NamespaceNotFoundError) return 'NOT_FOUND';
  const grpc = grpcErrorIn(err);
  if (grpc) return status[grpc.code] ?? `GRPC_${grpc.code}`;
  return err instanceof Error && err.name !== 'Error' ? err.name : 'START_FAILED';
}

function isUnavailable(err: unknown): boolean {
  const grpc = grpcErrorIn(err);
  // UNAVAILABLE (14), DEADLINE_EXCEEDED (4)
  return grpc !== undefined && (grpc.code === 14 || grpc.code === 4);
}
