import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finalsFromFile } from '../../bench/final-file';

const dir = mkdtempSync(path.join(os.tmpdir(), 'final-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the benchmark floor's file of final orders", () => {
  it('reads whole lines only: a line the worker is still appending is not a final order yet', async () => {
    const file = path.join(dir, 'finals');
    writeFileSync(file, 'a COMPLETED 1796000000000\nb FAILED 1796000000123\nc COMPLETED 17');
    const read = finalsFromFile(file);
    const first = await read(['a', 'b', 'c']);
    expect([...first.keys()]).toEqual(['a', 'b']);
    expect(first.get('b')).toEqual({ status: 'FAILED', atMs: 1796000000123 });
    appendFileSync(file, '96000000456\n');
    expect((await read(['c'])).get('c')).toEqual({ status: 'COMPLETED', atMs: 1796000000456 });
  });

  it('knows no order before the file exists, and only the ones asked for', async () => {
    const file = path.join(dir, 'later');
    expect((await finalsFromFile(file)(['a'])).size).toBe(0);
    writeFileSync(file, 'a COMPLETED 1\nb COMPLETED 2\n');
    expect([...(await finalsFromFile(file)(['b', 'x'])).keys()]).toEqual(['b']);
  });
});
