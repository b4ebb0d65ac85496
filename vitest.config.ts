import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * Two tiers. `fast` (npm run test:fast): unit tests and the workflow tests
 * with scripted activities, on one shared Temporal dev server, no MySQL, DM
 * or TiDB. `stack`: everything else, on the real components (its global
 * setup makes sure the cached ones exist), plus the two scripted workflow
 * files that start their own workers and processes (a lost worker, a second
 * build), slow by design. `npm test` runs both.
 */
const slowScripted = ['test/workflow/gate-same-task.test.ts', 'test/workflow/worker-versioning.test.ts'];
const fastWorkflow = readdirSync(new URL('test/workflow', import.meta.url))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/workflow/${f}`)
  .filter((f) => !slowScripted.includes(f));

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Suites start their own servers on free ports; two workers fit 2 cores.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          // its tests mostly wait (timers, approval timeouts) on the shared dev server: six files at once finish in
          // under a minute on 2 cores. In npm test too: its files run first, as a group of their own (groupOrder),
          // and the real-stack files start once they are done, with the cores to themselves
          maxWorkers: Number(process.env.DM_SWITCH_FAST_WORKERS) || 6,
          sequence: { groupOrder: 0 },
          include: ['test/unit/**/*.test.ts', ...fastWorkflow],
          // the files of one vitest worker share their imports (the SDK, the GTID module: most of a file's start-up);
          // none of them mocks a module or changes the environment, and each sets up its own Temporal in beforeAll
          isolate: false,
          globalSetup: ['test/workflow/shared-temporal.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'stack',
          sequence: { groupOrder: 1 },
          // three files at once on 2 cores: a real-stack file mostly waits (DM, Temporal's timeouts, a switch's check
          // windows), two kept the cores about 40 % busy; measured on this machine: the whole suite in 1510 s with
          // three, against 1884-2096 s with two
          maxWorkers: Number(process.env.DM_SWITCH_STACK_WORKERS) || 3,
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', ...fastWorkflow],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
