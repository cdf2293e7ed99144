// --columns for table output: pick and order a table's columns by name. A column's name
// is its header in lower case without spaces ("IP addresses" → "ipaddresses"); a few short
// aliases match headscale's (ip, status). Machine output (-o) is never filtered.

import { CliError } from './errors.js';

const ALIASES: Record<string, string> = { ip: 'ipaddresses', ips: 'ipaddresses', status: 'connected', username: 'name' };

export const columnKey = (header: string): string => header.toLowerCase().replace(/[^a-z0-9]/g, '');

/** The column indexes `spec` (comma-separated names) asks for, in its order. */
export function columnIndexes(header: string[], spec: string): number[] {
  const keys = header.map(columnKey);
  const out: number[] = [];
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const k = columnKey(raw);
    const i = keys.indexOf(ALIASES[k] && !keys.includes(k) ? ALIASES[k]! : k);
    if (i < 0) throw new CliError(`--columns: unknown column ${JSON.stringify(raw)}; choose from ${keys.join(', ')}`);
    if (!out.includes(i)) out.push(i);
  }
  if (out.length === 0) throw new CliError(`--columns: name at least one column (${keys.join(', ')})`);
  return out;
}

export function pickColumns(header: string[], rows: string[][], spec: string | undefined): { header: string[]; rows: string[][] } {
  if (spec === undefined) return { header, rows };
  const idx = columnIndexes(header, spec);
  return { header: idx.map((i) => header[i]!), rows: rows.map((r) => idx.map((i) => r[i] ?? '')) };
}
