import { ConfigError, loadConfig, requireDatabaseUrl } from '../lib/config';
import { DatabaseUnreachableError, createDatabaseIfMissing, migrate } from '../lib/db/migrate';

/** `npm run migrate`: create the database if missing, then apply pending migrations. */
async function main(): Promise<void> {
  const DATABASE_URL = requireDatabaseUrl(loadConfig(), 'npm run migrate');
  const created = await createDatabaseIfMissing(DATABASE_URL);
  const applied = await migrate(DATABASE_URL);
  const db = new URL(DATABASE_URL).pathname.slice(1);
  console.log(`${created ? `Created database ${db}. ` : ''}Applied ${applied.length} migration(s)${applied.length ? `: ${applied.join(', ')}` : ''}.`);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof DatabaseUnreachableError ? (err as Error).message : err);
  process.exit(1);
});
