import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/quiet-runtime.ts'],
    // Temporal's native worker is happiest in a child process, not a worker thread.
    pool: 'forks',
    // Two cores: the e2e files start their own workers and APIs; running test
    // files one at a time keeps timing-sensitive steps (cancel mid-step) honest.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
