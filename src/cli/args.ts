// Parsers for flag values. Each throws commander's InvalidArgumentError, so the refusal
// names the flag ("option '-i, --identifier <id>' argument 'x' is invalid. …").

import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../util/duration.js';

export function parseId(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim()) || Number(value) === 0) {
    throw new InvalidArgumentError('must be a positive integer id.');
  }
  return Number(value);
}

/** A duration like "90d", "1h30m" or "30m", returned in milliseconds. */
export function parseExpiration(value: string): number {
  const ms = parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('must be a duration like 30m, 24h or 90d.');
  if (ms <= 0) throw new InvalidArgumentError('must be a positive duration.');
  return ms;
}

export function parseRfc3339(value: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value);
  const d = new Date(value);
  if (!ok || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError('must be an RFC 3339 time like 2025-08-27T10:00:00Z.');
  }
  return d;
}

/**
 * A comma-separated list that may also be repeated (`--tags a,b --tags c`), like cobra's
 * StringSlice. An empty value contributes nothing, so `--routes ""` means "none".
 */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return [...(previous ?? []), ...items];
}

/** Tags checked locally too, so a typo is caught before anything is sent. */
export function collectTags(value: string, previous: string[] | undefined): string[] {
  const tags = collectList(value, undefined);
  for (const t of tags) {
    if (!/^tag:\S+$/.test(t)) throw new InvalidArgumentError(`tag ${JSON.stringify(t)} must look like tag:name.`);
    if (t.toLowerCase() !== t) throw new InvalidArgumentError(`tag ${JSON.stringify(t)} must be lowercase.`);
  }
  return [...(previous ?? []), ...tags];
}

/** A user given by id (digits) or by name. */
export type UserRef = { id: number } | { name: string };

export function parseUserRef(value: string): UserRef {
  const v = value.trim();
  if (v === '') throw new InvalidArgumentError('must be a user name or id.');
  return /^\d+$/.test(v) ? { id: Number(v) } : { name: v };
}
