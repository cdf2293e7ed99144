// Go-style durations ("1h30m", "90s", "500ms", "1.5h") as milliseconds. headscale reads its
// durations with Go's time.ParseDuration, except oidc/node expiry which also take days and
// weeks ("180d"), so "d" and "w" are accepted as well.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART_RE = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/;

/**
 * Milliseconds for a duration string, or null when it is not one. "0" alone needs no unit,
 * as in Go; any other bare number is refused because its unit would be a guess.
 * Sub-millisecond results are rounded to the nearest millisecond.
 */
export function parseDuration(text: string): number | null {
  let s = text.trim();
  if (s === '') return null;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return null;
  let total = 0;
  while (s.length > 0) {
    const m = PART_RE.exec(s);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  const ms = Math.round(total);
  return sign < 0 && ms !== 0 ? -ms : ms;
}

/** Go-like text for milliseconds ("1h30m0s", "1.5s", "0s"), for messages and round trips. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  let out = '';
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  out += `${s}s`;
  return (neg ? '-' : '') + out;
}
