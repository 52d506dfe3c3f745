import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { workflowIdFor } from '../../workflows/types';

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

/**
 * With RECORD_FIXTURES=1 (`npm run fixtures:record`), saves the closed workflow's
 * history under test/fixtures/histories/<name>.json for the replay test. It is
 * exported with `temporal workflow show --output json`, the same format the
 * Web UI downloads. Recording is opt-in so that a normal test run never
 * rewrites the fixtures it checks.
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
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), json.endsWith('\n') ? json : `${json}\n`);
}
