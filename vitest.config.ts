import { defineConfig } from 'vitest/config';

// One runner for the whole repository: `unit` holds the tests beside the code,
// `e2e` the tests that start real servers (and real Redis, PostgreSQL, Chromium).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'bench/src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Suites start their own servers on port 0; files run in parallel processes.
          pool: 'forks',
        },
      },
    ],
  },
});
