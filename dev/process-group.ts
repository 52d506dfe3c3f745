import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { stopChild } from './child-process';

const COLOURS = [36, 35, 33, 32, 34];

/** Copies a child's output to ours line by line, each line prefixed with its name. */
export function prefixOutput(name: string, stream: Readable | null, sink: NodeJS.WriteStream, index: number): void {
  if (!stream) return;
  const tag = sink.isTTY ? `\x1b[${COLOURS[index % COLOURS.length]}m[${name}]\x1b[0m` : `[${name}]`;
  createInterface({ input: stream }).on('line', (line) => sink.write(`${tag} ${line}\n`));
}

/**
 * Child processes started together and stopped together: stop() sends SIGTERM
 * to each in reverse start order and waits, escalating to SIGKILL after a grace
 * period. If any child exits on its own, `onUnexpectedExit` fires once.
 */
export class ProcessGroup {
  private readonly children: Array<{ name: string; child: ChildProcess }> = [];
  private stopping = false;

  constructor(private readonly onUnexpectedExit: (name: string, code: number | null) => void) {}

  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.adopt(name, child);
    return child;
  }

  adopt(name: string, child: ChildProcess): void {
    const index = this.children.length;
    this.children.push({ name, child });
    prefixOutput(name, child.stdout, process.stdout, index);
    prefixOutput(name, child.stderr, process.stderr, index);
    child.once('exit', (code) => {
      if (!this.stopping) this.onUnexpectedExit(name, code);
    });
  }

  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    for (const { child } of [...this.children].reverse()) await stopChild(child, graceMs);
  }
}
