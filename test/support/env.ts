import type {} from 'vitest';
/**
 * What the global setup hands to every test file (vitest's provide/inject).
 */
export interface TestEnvironment {
  databaseUrl: string;
  temporalAddress: string;
  temporalCliPath: string;
  testServerPath: string;
  workflowBundlePath: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testEnv: TestEnvironment;
  }
}

/** The suite's own database next to the server's `base` database (`orders` -> `orders_test`), dropped and recreated per run. */
export function testDatabaseUrl(base: string): string {
  const url = new URL(base);
  url.pathname = `/${decodeURIComponent(url.pathname.slice(1)) || 'orders'}_test`;
  return url.toString();
}
