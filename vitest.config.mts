import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file in its own child process: the right pool for a native addon.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Two cores: two files at a time keeps cross-process timing sane.
    maxWorkers: 2,
    globalSetup: ['test/global-leaks.ts'],
  },
});
