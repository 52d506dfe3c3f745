import net from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { DatabaseUnreachableError, createDatabaseIfMissing } from '../../lib/db/migrate';
import { freePort } from '../../dev/free-port';

/**
 * A worker or API restarted while PostgreSQL restarts (the chaos run kills one
 * and stops the other within seconds) used to find the port refusing
 * connections, exit 1 and wait for its process manager. They now wait for
 * PostgreSQL to come back, within a bound, and still fail clearly past it.
 */

/** A port that refuses connections until open() forwards it to PostgreSQL, as a restarting server does. */
async function laterPostgres(target: URL) {
  const port = await freePort();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.pipe(upstream).pipe(client);
  });
  const url = new URL(target.toString());
  url.port = String(port);
  return {
    url: url.toString(),
    open: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('start-up while PostgreSQL is down', () => {
  it('waits for a PostgreSQL that comes back within the wait, saying once that it waits', async () => {
    const pg = await laterPostgres(new URL(inject('testEnv').databaseUrl));
    const waits: string[] = [];
    const opening = new Promise((r) => setTimeout(r, 1_500)).then(pg.open);
    try {
      await expect(createDatabaseIfMissing(pg.url, { waitMs: 15_000, onWait: (reason) => waits.push(reason) })).resolves.toBe(false);
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatch(/ECONNREFUSED/);
    } finally {
      await opening;
      await pg.close();
    }
  });

  it('past the wait, fails with DatabaseUnreachableError as before', async () => {
    const pg = await laterPostgres(new URL(inject('testEnv').databaseUrl));
    const started = Date.now();
    await expect(createDatabaseIfMissing(pg.url, { waitMs: 1_000 })).rejects.toBeInstanceOf(DatabaseUnreachableError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });
});
