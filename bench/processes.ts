import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { stopChild } from '../dev/child-process';
import { PROJECT_ROOT } from '../lib/paths';
import { waitForHttp } from '../dev/wait-for-http';

/**
 * A design's server processes, started like `npm run api`: `node --import tsx
 * <entry>`. Output goes to a log file per process (bench/results/logs/), and the
 * resident memory of each process is sampled so the report can show peak RSS.
 */
export class Launched {
  private peakRssKb = 0;
  private readonly sampler: NodeJS.Timeout;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.sampler = setInterval(() => this.sample(), 250);
    this.sampler.unref();
  }

  private sample(): void {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      this.peakRssKb = Math.max(this.peakRssKb, kb);
    } catch {
      // exited, or not Linux: no sample
    }
  }

  get peakRssMb(): number {
    return Math.round(this.peakRssKb / 1024);
  }

  async stop(): Promise<void> {
    clearInterval(this.sampler);
    await stopChild(this.child);
  }
}

/** `nodeArgs` go before the entry, e.g. `--cpu-prof` (the benchmark's --profile). */
export function launch(name: string, entry: string, env: NodeJS.ProcessEnv, logDir: string, nodeArgs: string[] = []): Launched {
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(PROJECT_ROOT, entry)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return new Launched(name, child);
}

/** Waits for a design's HTTP health URL; fails at once if one of its processes exits. */
export async function waitForDesign(url: string, timeoutMs: number, processes: Launched[]): Promise<void> {
  const ready = await waitForHttp(url, timeoutMs, () => {
    const dead = processes.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited during start-up; see its log in bench/results/logs/`);
  });
  if (!ready) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}
