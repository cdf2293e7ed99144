// vitest runs the compiled tests (dist/test, built by `npm run build`), so tests, worker
// threads and the CLI subprocesses they start all run the same JavaScript.
// Two projects: `main` (unit and integration, on SQLite and, when scripts/pg-setup.sh
// runs, PostgreSQL) and `e2e` (the stock Tailscale client in network namespaces, one file
// at a time, after main: its daemons are timing-sensitive).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks', // a process per file, as each test file owns servers, sockets and ports
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        test: {
          name: 'main',
          include: ['dist/test/**/*.test.js'],
          exclude: ['dist/test/e2e/**'], // replaces vitest's default, which excludes **/dist/**
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['dist/test/e2e/**/*.test.js'],
          exclude: [], // vitest's default exclude has **/dist/**, which is where the tests are
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
