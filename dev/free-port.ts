import { createServer } from 'node:net';

/**
 * Ports are drawn from 10000-32767: below the kernel's range for outgoing
 * connections (Linux 32768-60999, macOS 49152-65535). A port the OS picks for
 * a listener comes from that range, and an outgoing connection could take it
 * between this check and the server's bind, or while a server is down and
 * restarting on its port; a chaos run, which opens thousands of connections
 * while it restarts its servers, met exactly that ("bind: address already in
 * use" for the Temporal dev server).
 */
const LOWEST = 10_000;
const HIGHEST = 32_767;

/** A TCP port that was free a moment ago on 127.0.0.1, outside the range outgoing connections are given. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free TCP port between ${LOWEST} and ${HIGHEST} on 127.0.0.1 after 100 tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
