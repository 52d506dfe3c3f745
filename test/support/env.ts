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

/** The suite's own database, next to whatever DATABASE_URL names, dropped and recreated per run. */
export function testDatabaseUrl(): string {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/orders');
  url.pathname = `/${decodeURIComponent(url.pathname.slice(1)) || 'orders'}_test`;
  return url.toString();
}
