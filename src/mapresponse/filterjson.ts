// The PacketFilters JSON of a node. A rule's SrcIPs list is one array shared by every node
// that receives the rule (a team of 100 all get the same 200 addresses), so its JSON is
// written once per array and reused, instead of once per node: the output is byte for
// byte JSON.stringify({ base: rules }).

import type { FilterRule } from '../tailcfg/types.js';

const arrays = new WeakMap<readonly string[], string>();

function stringsJson(a: readonly string[]): string {
  let j = arrays.get(a);
  if (j === undefined) arrays.set(a, (j = JSON.stringify(a)));
  return j;
}

function ruleJson(r: FilterRule): string {
  let out = '{';
  for (const k in r) {
    const v = (r as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue; // as JSON.stringify skips it
    if (out.length > 1) out += ',';
    out += JSON.stringify(k) + ':' + (k === 'SrcIPs' ? stringsJson(v as string[]) : JSON.stringify(v));
  }
  return out + '}';
}

export function packetFiltersJson(rules: readonly FilterRule[]): string {
  let out = '{"base":[';
  for (let i = 0; i < rules.length; i++) out += (i ? ',' : '') + ruleJson(rules[i]!);
  return out + ']}';
}
