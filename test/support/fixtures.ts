import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { buildIdFor } from '../../lib/temporal/deployment';
import { workflowIdFor } from '../../workflows/types';

/**
 * Recorded histories, one folder per build of the workflow code
 * (test/fixtures/histories/<build id>/<name>.json). A run is pinned to the build
 * that started it (Worker Versioning), so a build only ever replays its own
 * histories; each folder proves its build replays the runs it made. Once
 * committed, a history is never rewritten: MANIFEST holds each file's hash as
 * first recorded, recording refuses to overwrite, and test/replay checks both.
 */
export const HISTORIES_ROOT = path.resolve(__dirname, '..', 'fixtures', 'histories');
export const MANIFEST = path.join(HISTORIES_ROOT, 'manifest.json');

/** The build id of the workflow bundle the suite runs, as a worker of it derives it. */
export function currentBuildId(): string {
  return buildIdFor(readFileSync(inject('testEnv').workflowBundlePath, 'utf8'));
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** `<build id>/<name>.json` → the sha256 of the file as first recorded. */
export function readManifest(): Record<string, string> {
  return existsSync(MANIFEST) ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, string>) : {};
}

/**
 * With RECORD_FIXTURES=1 (`npm run fixtures:record`), saves the closed workflow's
 * history under the current build's folder for the replay test, exported with
 * `temporal workflow show --output json` (the format the Web UI downloads).
 * Opt-in, so a normal run never writes the fixtures it checks; it refuses to
 * replace a history already recorded, and a changed workflow is a new build
 * with a folder of its own.
 */
export async function recordHistory(client: Client, orderId: string, name: string): Promise<void> {
  if (process.env.RECORD_FIXTURES !== '1') return;
  const relative = `${currentBuildId()}/${name}.json`;
  const file = path.join(HISTORIES_ROOT, relative);
  const manifest = readManifest();
  if (existsSync(file) || manifest[relative]) {
    throw new Error(`${relative} is recorded already; a committed history is never rewritten (a changed workflow is a new build).`);
  }
  const workflowId = workflowIdFor(orderId);
  await client.workflow.getHandle(workflowId).result().catch(() => undefined);
  const { temporalCliPath, temporalAddress } = inject('testEnv');
  const json = execFileSync(
    temporalCliPath,
    ['workflow', 'show', '--workflow-id', workflowId, '--address', temporalAddress, '--output', 'json'],
    { encoding: 'utf8' },
  );
  const text = json.endsWith('\n') ? json : `${json}\n`;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  manifest[relative] = sha256(text);
  const sorted = Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(MANIFEST, `${JSON.stringify(sorted, null, 2)}\n`);
}
