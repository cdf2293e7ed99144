// The process's soft limit on open files, where the platform tells it (Linux: /proc).
// Each connection holds one descriptor; a connection limit above this one would let the
// listener run out of descriptors before the limit ever refuses anything.

import { readFileSync } from 'node:fs';

export function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

/** Descriptors kept back for the database, files, the unix socket and the other listeners. */
export const RESERVED_DESCRIPTORS = 256;

/** `max` lowered to fit under the descriptor limit, or unchanged; 0 (no limit) is capped too. */
export function fitConnectionLimit(max: number, limit: number | null): number {
  if (limit === null) return max;
  const room = Math.max(16, limit - RESERVED_DESCRIPTORS);
  return max === 0 || max > room ? room : max;
}
