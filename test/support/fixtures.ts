import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { workflowIdFor } from '../../workflows/types';

/** One folder per released version of the saga; each keeps the histories recorded with it. */
export const HISTORIES_ROOT = path.resolve(__dirname, '..', 'fixtures', 'histories');
/** The version being developed: package.json's. Recording writes here and nowhere else. */
export const CURRENT_VERSION: string = (
  JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
export const CURRENT_HISTORIES_DIR = path.join(HISTORIES_ROOT, CURRENT_VERSION);

/**
 * With RECORD_FIXTURES=1 (`npm run fixtures:record`), saves the closed workflow's
 * history under test/fixtures/histories/<version>/<name>.json for the replay
 * test, <version> being package.json's. It is exported with `temporal workflow
 * show --output json`, the same format the Web UI downloads. Recording is opt-in
 * so that a normal test run never rewrites the fixtures it checks, and it never
 * touches another version's folder: the histories of released versions stay, so
 * a change that would break runs still in flight cannot be re-recorded away.
 */
export async function recordHistory(client: Client, orderId: string, name: string): Promise<void> {
  if (process.env.RECORD_FIXTURES !== '1') return;
  const workflowId = workflowIdFor(orderId);
  await client.workflow.getHandle(workflowId).result().catch(() => undefined);
  const { temporalCliPath, temporalAddress } = inject('testEnv');
  const json = execFileSync(
    temporalCliPath,
    ['workflow', 'show', '--workflow-id', workflowId, '--address', temporalAddress, '--output', 'json'],
    { encoding: 'utf8' },
  );
  mkdirSync(CURRENT_HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(CURRENT_HISTORIES_DIR, `${name}.json`), json.endsWith('\n') ? json : `${json}\n`);
}
