import path from 'node:path';
import { PROJECT_ROOT } from '../lib/paths';
import { TEMPORAL_CLI, ensureTool } from './temporal-cli';
import { startDevServer } from './temporal-dev-server';

/**
 * `npm run temporal:dev`: only the Temporal dev server, with the Web UI on 8233,
 * workflows persisted in .data/temporal.db and our search attributes registered.
 */
async function main(): Promise<void> {
  const cli = ensureTool(TEMPORAL_CLI);
  const server = await startDevServer({
    cli,
    port: 7233,
    uiPort: 8233,
    dbFile: path.join(PROJECT_ROOT, '.data', 'temporal.db'),
  });
  console.log(`Temporal dev server on ${server.address}, Web UI at ${server.uiUrl}. Ctrl-C stops it.`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  server.child.on('exit', (code) => process.exit(code ?? 1));
}

main().catch((err: unknown) => {
  console.error((err as Error).message ?? err);
  process.exit(1);
});
