import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { stopChild } from '../dev/child-process';
import { PROJECT_ROOT } from '../lib/paths';

/** How long after an unexpected exit the process is started again, as a process manager would. */
const RESTART_DELAY_MS = 2_000;

/**
 * One of the stack's Node processes (`worker/main.ts`, `api/main.ts`) started as
 * `npm run worker` / `npm run api` do, its output appended to a log file. Like a
 * process manager (systemd, Kubernetes) it starts the process again when it exits
 * on its own, say a worker that found Temporal down at start-up; such exits are
 * counted, since they are not faults the run injected.
 */
export class Supervised {
  private child: ChildProcess | undefined;
  private stopped = false;
  private pendingRestart: NodeJS.Timeout | undefined;
  unexpectedExits = 0;

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
    private readonly say: (line: string) => void,
  ) {}

  /** Starts the process unless it is running (or a restart already started it). */
  ensureRunning(): void {
    if (this.child || this.stopped) return;
    clearTimeout(this.pendingRestart);
    const log = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, this.entry)], {
      env: this.env,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped || signal === 'SIGKILL') return; // we stopped or killed it
      this.unexpectedExits++;
      this.say(`${this.name} exited on its own (code ${code}); starting it again in ${RESTART_DELAY_MS / 1000} s (its log: ${this.logFile})`);
      this.pendingRestart = setTimeout(() => this.ensureRunning(), RESTART_DELAY_MS);
    });
  }

  /** SIGKILL: a crash, no graceful shutdown. It stays down until ensureRunning(). */
  async kill(): Promise<void> {
    clearTimeout(this.pendingRestart);
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await stopChild(child, 0, 'SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pendingRestart);
    if (this.child) await stopChild(this.child, 15_000);
  }
}
