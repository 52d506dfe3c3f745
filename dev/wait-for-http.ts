/**
 * Polls `url` until it answers 2xx or `timeoutMs` passes; returns whether it did.
 * `check` runs before each poll and may throw to give up early (a child process
 * that died while we were waiting for it, say).
 */
export async function waitForHttp(url: string, timeoutMs: number, check: () => void = () => undefined): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    check();
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
