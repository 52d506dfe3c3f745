import { describe, expect, it } from 'vitest';
import { cpuPerOrder, cpuSnapshot, processCpuMs } from '../../bench/cpu';

/**
 * The benchmark's CPU-per-order figures decide what docs/benchmarks.md says
 * limits each design, so the arithmetic and the /proc reading are checked here.
 */
describe('benchmark CPU accounting', () => {
  it('divides each component by the orders, drops idle ones, sorts and totals', () => {
    const before = { 'temporal dev server': 1000, worker: 500, postgresql: 200, idle: 50 };
    const after = { 'temporal dev server': 3000, worker: 1500, postgresql: 400, idle: 50, 'load generator': 40 };
    const perOrder = cpuPerOrder(before, after, 20);
    expect(perOrder).toEqual({ 'temporal dev server': 100, worker: 50, postgresql: 10, 'load generator': 2, total: 162 });
    expect(Object.keys(perOrder)).toEqual(['temporal dev server', 'worker', 'postgresql', 'load generator', 'total']);
  });

  it('reads a live process from /proc, and 0 for one that does not exist', () => {
    const start = processCpuMs(process.pid);
    // Spin for 150 ms of this process's own CPU time (not wall time, which a busy machine stretches).
    const cpuStart = process.cpuUsage();
    const spent = () => {
      const { user, system } = process.cpuUsage(cpuStart);
      return (user + system) / 1000;
    };
    while (spent() < 150);
    // /proc counts in 10 ms ticks, so allow for rounding at both ends.
    expect(processCpuMs(process.pid) - start).toBeGreaterThanOrEqual(120);
    expect(processCpuMs(2 ** 30)).toBe(0);
  });

  it('snapshots the named processes and this one (the load generator)', () => {
    const snapshot = cpuSnapshot({ self: process.pid, gone: undefined });
    expect(snapshot.self).toBeGreaterThan(0);
    expect(snapshot.gone).toBe(0);
    expect(snapshot['load generator']).toBeGreaterThan(0);
  });
});
