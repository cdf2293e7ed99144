// Reloads the policy file when it changes. The directory is watched rather than the
// file because editors save by writing a new file and renaming it over the old one.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchPolicyFile(path: string, onChange: () => void, log: (msg: string) => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path)) return;
      // Several events arrive for one save; act once the burst is over.
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, 150);
    });
  } catch (err) {
    log(`cannot watch ${path} for changes (${(err as Error).message}); reload with SIGHUP`);
    return () => {};
  }
  watcher.on('error', (err) => log(`watching ${path} failed: ${err.message}; reload with SIGHUP`));
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
