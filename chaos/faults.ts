import { FAULT_KINDS, describeFault, type FaultKind, type PlannedFault } from './schedule';
import type { ChaosStack } from './stack';

/**
 * Runs the planned faults against the stack at their times. Faults of one kind
 * run one after the other (the next waits for the previous restart); faults of
 * different kinds may overlap. A fault counts once its component is down.
 */
export class FaultInjector {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  private readonly running: Promise<void>[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly stack: ChaosStack,
    private readonly plan: PlannedFault[],
    private readonly say: (line: string) => void,
  ) {}

  get injected(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Schedules every fault relative to now. */
  start(): void {
    const lastOfKind = new Map<FaultKind, Promise<void>>();
    this.plan.forEach((fault, i) => {
      const due = new Promise<void>((resolve) => this.timers.push(setTimeout(resolve, fault.atMs)));
      const previous = lastOfKind.get(fault.kind) ?? Promise.resolve();
      const run = Promise.all([due, previous]).then(() => this.inject(fault, i + 1));
      lastOfKind.set(fault.kind, run);
      this.running.push(run);
    });
  }

  /** Resolves once every fault has been injected and its component is back. */
  async done(): Promise<void> {
    await Promise.all(this.running);
  }

  private async inject(fault: PlannedFault, n: number): Promise<void> {
    this.say(`fault ${n}/${this.plan.length}: ${describeFault(fault)}`);
    const down = () => void this.counts[fault.kind]++;
    const s = this.stack;
    switch (fault.kind) {
      case 'worker_kill':
        return s.killWorker(fault.downMs, down);
      case 'api_kill':
        return s.killApi(fault.downMs, down);
      case 'temporal_restart':
        return s.restartTemporal(fault.downMs, down);
      case 'postgres_restart':
        return s.restartPostgres(fault.downMs, fault.mode ?? 'fast', down);
      case 'provider_outage':
        return s.providerOutage(fault.downMs, down);
    }
  }
}
