import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../dev/free-port';

describe('freePort', () => {
  it('gives ports below the range outgoing connections are given, each one a listener can take', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(32_768);
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });
});
