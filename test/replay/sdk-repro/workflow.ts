/**
 * A workflow of a few lines that writes a history its own code cannot replay
 * (test/replay/local-activity-update.test.ts). Not part of the service: it
 * shows why the saga runs no local activity while it accepts Updates.
 */
import { condition, defineUpdate, proxyLocalActivities, setHandler } from '@temporalio/workflow';

export const poke = defineUpdate<string>('poke');

export interface ReproActivities {
  flaky(): Promise<void>;
}

const { flaky } = proxyLocalActivities<ReproActivities>({
  startToCloseTimeout: '5 seconds',
  // Backoffs of 1, 2 and 4 s are waited out inside the workflow task; the
  // fourth, 8 s, passes the threshold and becomes a timer.
  localRetryThreshold: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2 },
});

export async function localActivityThenUpdate(): Promise<void> {
  // As the saga's cancel does: the handler waits for a state that already holds.
  setHandler(poke, async () => {
    await condition(() => true);
    return 'poked';
  });
  await flaky();
}
