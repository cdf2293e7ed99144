#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled tree so `npx switchboard` and the tests run the same code.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
