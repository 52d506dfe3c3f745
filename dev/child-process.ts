import type { ChildProcess } from 'node:child_process';

/**
 * Asks a child to stop (SIGTERM) and waits for it to exit, escalating to SIGKILL
 * after `graceMs`. Resolves at once for a child that has already exited.
 */
export async function stopChild(child: ChildProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
