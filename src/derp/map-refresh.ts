// Periodic re-loading of the DERP map (derp.auto_update_enabled / derp.update_frequency).
// One timer at a time, re-armed after each load finishes, so a slow URL can never pile up
// overlapping loads; stop() clears the timer and aborts a load in flight.

import type { Config } from '../config/types.js';
import type { DERPMap } from '../tailcfg/types.js';
import { loadDerpMap, type LoadDerpMapOptions } from './map.js';

export interface DerpMapRefreshOptions extends Omit<LoadDerpMapOptions, 'signal'> {
  /** Called when a refresh fails; the previous map stays in use. */
  onError?: (err: unknown) => void;
  /** Overrides derp.update_frequency (tests). */
  intervalMs?: number;
  /** The map already in use, so an unchanged first refresh is not reported. */
  initial?: DERPMap;
  /** True skips a refresh (an instance that is not the elected one; it gets the leader's map). */
  skip?: () => boolean;
}

/**
 * Calls `onUpdate` with a freshly loaded map every update_frequency, but only when it
 * differs from the last one delivered. The initial load is the caller's job. Returns stop().
 */
export function startDerpMapRefresh(
  cfg: Config['derp'],
  onUpdate: (map: DERPMap) => void,
  opts: DerpMapRefreshOptions = {},
): () => void {
  const interval = opts.intervalMs ?? cfg.update_frequency_ms;
  const noSources = cfg.urls.length === 0 && cfg.paths.length === 0;
  if (!cfg.auto_update_enabled || noSources || !(interval > 0)) return () => {};

  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined = opts.initial ? JSON.stringify(opts.initial) : undefined;

  const tick = async () => {
    timer = undefined;
    if (opts.skip?.()) {
      timer = setTimeout(tick, interval);
      return;
    }
    try {
      const map = await loadDerpMap(cfg, { fetch: opts.fetch, warn: opts.warn, timeoutMs: opts.timeoutMs, signal: abort.signal });
      if (abort.signal.aborted) return;
      const text = JSON.stringify(map);
      if (text !== last) {
        last = text;
        onUpdate(map);
      }
    } catch (e) {
      if (abort.signal.aborted) return;
      opts.onError?.(e);
    }
    if (!abort.signal.aborted) timer = setTimeout(tick, interval);
  };
  timer = setTimeout(tick, interval);

  return () => {
    abort.abort();
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
}
