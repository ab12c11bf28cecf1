import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          maxWorkers: 2,
          include: ['test/unit/**/*.test.ts'],
          // Not a speed limit (benchmarks are): the property tests decode thousands of fixes, several seconds on a
          // loaded 2-core machine, where vitest's default of 5 s failed them.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup-directus11.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Files share one Directus; running them one at a time keeps timings honest on a 2-core machine.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'directus12',
          include: ['test/compat/**/*.test.ts'],
          globalSetup: ['test/support/global-setup-directus12.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
