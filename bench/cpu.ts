import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time per component of a design, read from /proc (Linux only), so the
 * report can say where an order's cost goes instead of guessing: every process
 * of every design shares the same cores, and whichever spends most per order
 * sets the design's ceiling.
 *
 * Shared services are found by process name: every `postgres` process counts as
 * PostgreSQL, `beam.smp` as RabbitMQ. A PostgreSQL backend that exits during
 * the window takes its CPU time with it; the designs' pools keep their
 * connections open, so that loss is small.
 */

const TICK_MS = 1000 / clockTicksPerSecond();

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // Linux's USER_HZ on every common architecture
  }
}

/** utime + stime of one process in ms; 0 once it has exited (or off Linux). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Field 2, the command name in parentheses, may itself hold spaces and
    // parentheses, so count from the last ')'. utime and stime are fields 14, 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

const SERVICES: Record<string, string> = { postgres: 'postgresql', 'beam.smp': 'rabbitmq broker' };

function serviceCpuMs(): Record<string, number> {
  const totals: Record<string, number> = {};
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return totals;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const service = SERVICES[comm];
    if (service) totals[service] = (totals[service] ?? 0) + processCpuMs(Number(entry));
  }
  return totals;
}

export type CpuSnapshot = Record<string, number>;

/** CPU ms so far of each named process, the shared services and this process (the load generator). */
export function cpuSnapshot(processes: Record<string, number | undefined>): CpuSnapshot {
  const own = process.cpuUsage();
  const snapshot: CpuSnapshot = { ...serviceCpuMs(), 'load generator': (own.user + own.system) / 1000 };
  for (const [name, pid] of Object.entries(processes)) snapshot[name] = processCpuMs(pid);
  return snapshot;
}

/** CPU ms per order of each component between two snapshots, largest first, with the total. */
export function cpuPerOrder(before: CpuSnapshot, after: CpuSnapshot, orders: number): Record<string, number> {
  const perOrder = Object.keys(after)
    .map((name) => [name, (after[name]! - (before[name] ?? 0)) / Math.max(1, orders)] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = perOrder.reduce((sum, [, ms]) => sum + ms, 0);
  return Object.fromEntries([...perOrder.map(([name, ms]) => [name, round1(ms)]), ['total', round1(total)]]);
}

const round1 = (n: number) => Math.round(n * 10) / 10;
