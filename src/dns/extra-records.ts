// dns.extra_records_path: a JSON file of [{"name", "type", "value"}] (headscale's format,
// tailcfg.DNSRecord's JSON names) whose records join the DNS config. The file is watched:
// a valid new version is pushed to every node; an invalid one is reported and the last
// good records stay in force.

import { readFileSync } from 'node:fs';
import type { DNSExtraRecord } from '../config/types.js';
import { isHostname, parseAddress } from '../util/netaddr.js';

export class ExtraRecordsError extends Error {}

/** Parses and checks the file's text; `where` names the file in errors. */
export function parseExtraRecords(text: string, where: string): DNSExtraRecord[] {
  let raw: unknown;
  try {
    raw = text.trim() === '' ? [] : JSON.parse(text);
  } catch (err) {
    throw new ExtraRecordsError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(raw)) throw new ExtraRecordsError(`${where}: expected a JSON list of {"name", "type", "value"}`);
  return raw.map((item: unknown, i): DNSExtraRecord => {
    const at = `${where}: record ${i}`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new ExtraRecordsError(`${at}: expected {"name", "type", "value"}`);
    const r = item as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (k !== 'name' && k !== 'type' && k !== 'value') throw new ExtraRecordsError(`${at}: unknown field "${k}" (expected name, type, value)`);
    }
    const name = r['name'];
    const type = typeof r['type'] === 'string' ? r['type'].toUpperCase() : r['type'];
    const value = r['value'];
    if (typeof name !== 'string' || !isHostname(name)) throw new ExtraRecordsError(`${at}: "name" ${JSON.stringify(name)} is not a valid domain name`);
    if (type !== 'A' && type !== 'AAAA') {
      throw new ExtraRecordsError(`${at}: "type" ${JSON.stringify(r['type'])} is not supported (Tailscale clients serve A and AAAA only)`);
    }
    const want = type === 'A' ? 4 : 6;
    if (typeof value !== 'string' || parseAddress(value)?.family !== want) {
      throw new ExtraRecordsError(`${at}: "value" ${JSON.stringify(value)} is not an IPv${want} address`);
    }
    return { name, type, value };
  });
}

export function readExtraRecordsFile(path: string): DNSExtraRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ExtraRecordsError(`dns.extra_records_path: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseExtraRecords(text, path);
}
