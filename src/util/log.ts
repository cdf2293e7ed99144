// Leveled logging to stderr, as text or JSON lines. Secrets never reach it: callers
// log identifiers (key prefixes, node names), never tokens or private keys.

export type Level = 'error' | 'warn' | 'info' | 'debug' | 'trace';
const ORDER: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
}

/** headscale's levels include panic/fatal; they log errors only. */
export function normalizeLevel(level: string): Level {
  if (level === 'panic' || level === 'fatal') return 'error';
  return (level in ORDER ? level : 'info') as Level;
}

export function createLogger(level: string, format: 'text' | 'json' = 'text', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const max = ORDER[normalizeLevel(level)];
  const emit = (lvl: Level, msg: string) => {
    if (ORDER[lvl] > max) return;
    const time = new Date().toISOString();
    write(format === 'json' ? JSON.stringify({ time, level: lvl, msg }) : `${time} ${lvl.toUpperCase().padEnd(5)} ${msg}`);
  };
  return {
    error: (m) => emit('error', m),
    warn: (m) => emit('warn', m),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
    trace: (m) => emit('trace', m),
  };
}
