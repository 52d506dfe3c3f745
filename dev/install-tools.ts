import { TEMPORAL_CLI, TEMPORAL_TEST_SERVER, ensureTool } from './temporal-cli';

/** `npm run tools`: make sure the Temporal CLI and the time-skipping test server are present. */
try {
  for (const tool of [TEMPORAL_CLI, TEMPORAL_TEST_SERVER]) console.log(`${tool.binary}: ${ensureTool(tool)}`);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
