// Reading one DERP map document. Two spellings exist for the same structure: headscale's
// YAML files use yaml.v3's lower-cased Go field names ("regionid", "hostname"), Tailscale's
// JSON uses Go's own ("RegionID", "HostName"). Go's JSON decoder matches field names case-
// insensitively, so matching that way reads both, in either file format.

import { parse as parseYaml } from 'yaml';
import type { DERPMap, DERPNode, DERPRegion } from '../tailcfg/types.js';
import { parseAddress } from '../util/netaddr.js';

export class DerpMapError extends Error {
  constructor(
    /** File path or URL the map came from. */
    readonly source: string,
    /** Field path inside the document, e.g. "regions.900.nodes[0].hostname". */
    readonly field: string,
    problem: string,
  ) {
    super(`${source}: ${field ? `${field}: ` : ''}${problem}`);
    this.name = 'DerpMapError';
  }
}

/** One source's contribution: regions by id, `null` meaning "remove this region". */
export interface DerpMapPart {
  regions: Map<number, DERPRegion | null>;
  homeParams?: DERPMap['HomeParams'];
  warnings: string[];
}

type FieldType = 'string' | 'int' | 'number' | 'bool';

const NODE_FIELDS: Record<string, [keyof DERPNode, FieldType]> = {
  name: ['Name', 'string'],
  regionid: ['RegionID', 'int'],
  hostname: ['HostName', 'string'],
  certname: ['CertName', 'string'],
  ipv4: ['IPv4', 'string'],
  ipv6: ['IPv6', 'string'],
  stunport: ['STUNPort', 'int'],
  stunonly: ['STUNOnly', 'bool'],
  derpport: ['DERPPort', 'int'],
  insecurefortests: ['InsecureForTests', 'bool'],
  stuntestip: ['STUNTestIP', 'string'],
  canport80: ['CanPort80', 'bool'],
};

const REGION_FIELDS: Record<string, [keyof DERPRegion, FieldType]> = {
  regionid: ['RegionID', 'int'],
  regioncode: ['RegionCode', 'string'],
  regionname: ['RegionName', 'string'],
  latitude: ['Latitude', 'number'],
  longitude: ['Longitude', 'number'],
  avoid: ['Avoid', 'bool'],
  nomeasurenohome: ['NoMeasureNoHome', 'bool'],
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses file text (YAML or JSON) or an HTTP body into one part of the final map. */
export function parseDerpMap(text: string, source: string): DerpMapPart {
  let doc: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so this reads Tailscale's JSON as well.
    doc = parseYaml(text, { uniqueKeys: false });
  } catch (e) {
    const pos = (e as { linePos?: Array<{ line: number }> }).linePos?.[0];
    throw new DerpMapError(source, '', `not valid YAML/JSON${pos ? ` (line ${pos.line})` : ''}: ${(e as Error).message.split('\n')[0]}`);
  }
  return readDerpMap(doc, source);
}

/** Validates an already decoded document; see parseDerpMap. */
export function readDerpMap(doc: unknown, source: string): DerpMapPart {
  const fail = (field: string, problem: string): never => {
    throw new DerpMapError(source, field, problem);
  };
  const warnings: string[] = [];
  if (!isObj(doc)) fail('', 'expected a mapping with a "regions" key');
  const top = doc as Record<string, unknown>;

  const part: DerpMapPart = { regions: new Map(), warnings };
  for (const [k, v] of Object.entries(top)) {
    const lk = k.toLowerCase();
    if (lk === 'regions') {
      if (v === null) continue;
      if (!isObj(v)) fail(k, 'expected a mapping of region ids to regions');
      for (const [id, region] of Object.entries(v as Record<string, unknown>)) {
        const n = Number(id);
        if (!/^\d+$/.test(id) || !Number.isSafeInteger(n) || n <= 0) fail(`${k}.${id}`, 'region ids must be positive integers');
        part.regions.set(n, region === null ? null : readRegion(region, n, `${k}.${id}`, fail, warnings));
      }
    } else if (lk === 'homeparams') {
      if (v !== null) part.homeParams = readHomeParams(v, k, fail);
    } else if (lk === 'omitdefaultregions') {
      // Meaningless for a control server's own map; headscale drops it as well.
    } else {
      warnings.push(`${k}: unknown field (ignored)`);
    }
  }
  part.warnings = warnings.map((w) => `${source}: ${w}`);
  return part;
}

type Fail = (field: string, problem: string) => never;

function readFields<T extends object>(
  obj: Record<string, unknown>,
  table: Record<string, [keyof T, FieldType]>,
  at: string,
  fail: Fail,
  warnings: string[],
  skip: string,
): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const lk = k.toLowerCase();
    if (lk === skip) continue;
    const spec = table[lk];
    if (!spec) {
      warnings.push(`${at}.${k}: unknown field (ignored)`);
      continue;
    }
    if (v === null) continue;
    const [name, type] = spec;
    const field = `${at}.${k}`;
    switch (type) {
      case 'string':
        // YAML reads a bare `name: 900` as a number; Go's yaml.v3 would still fill a string.
        if (typeof v !== 'string' && typeof v !== 'number') fail(field, `expected a string, got ${JSON.stringify(v)}`);
        out[name as string] = String(v);
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(field, `expected an integer, got ${JSON.stringify(v)}`);
        out[name as string] = v;
        break;
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, `expected a number, got ${JSON.stringify(v)}`);
        out[name as string] = v;
        break;
      case 'bool':
        if (typeof v !== 'boolean') fail(field, `expected true or false, got ${JSON.stringify(v)}`);
        out[name as string] = v;
        break;
    }
  }
  return out as Partial<T>;
}

function readRegion(v: unknown, id: number, at: string, fail: Fail, warnings: string[]): DERPRegion {
  if (!isObj(v)) return fail(at, 'expected a region (regionid, regioncode, regionname, nodes) or null');
  const r = readFields<DERPRegion>(v, REGION_FIELDS, at, fail, warnings, 'nodes');
  if (r.RegionID === undefined || r.RegionID === 0) r.RegionID = id;
  if (r.RegionID !== id) fail(`${at}.regionid`, `${r.RegionID} differs from the region's key ${id}`);
  if (!r.RegionCode) fail(`${at}.regioncode`, 'required');
  const nodesKey = Object.keys(v).find((k) => k.toLowerCase() === 'nodes');
  const nodesRaw = nodesKey ? v[nodesKey] : undefined;
  if (nodesRaw !== undefined && nodesRaw !== null && !Array.isArray(nodesRaw)) fail(`${at}.${nodesKey}`, 'expected a list of nodes');
  const nodes = ((nodesRaw as unknown[] | null | undefined) ?? []).map((n, i) => readNode(n, id, `${at}.${nodesKey}[${i}]`, fail, warnings));
  if (nodes.length === 0) warnings.push(`${at}.nodes: region has no nodes, clients cannot use it`);
  return {
    RegionID: id,
    RegionCode: r.RegionCode!,
    RegionName: r.RegionName ?? r.RegionCode!,
    ...(r.Latitude !== undefined ? { Latitude: r.Latitude } : {}),
    ...(r.Longitude !== undefined ? { Longitude: r.Longitude } : {}),
    ...(r.Avoid ? { Avoid: true } : {}),
    ...(r.NoMeasureNoHome ? { NoMeasureNoHome: true } : {}),
    Nodes: nodes,
  };
}

function readNode(v: unknown, regionId: number, at: string, fail: Fail, warnings: string[]): DERPNode {
  if (!isObj(v)) return fail(at, 'expected a node (name, regionid, hostname, ...)');
  const n = readFields<DERPNode>(v, NODE_FIELDS, at, fail, warnings, '');
  if (!n.Name) fail(`${at}.name`, 'required');
  if (!n.HostName) fail(`${at}.hostname`, 'required');
  if (n.RegionID === undefined || n.RegionID === 0) n.RegionID = regionId;
  if (n.RegionID !== regionId) fail(`${at}.regionid`, `${n.RegionID} differs from the enclosing region ${regionId}`);
  for (const [key, fam] of [['ipv4', 4], ['ipv6', 6]] as const) {
    const val = key === 'ipv4' ? n.IPv4 : n.IPv6;
    // "none" disables that family for the node (tailcfg.DERPNode).
    if (val !== undefined && val !== '' && val !== 'none' && parseAddress(val)?.family !== fam) {
      fail(`${at}.${key}`, `${JSON.stringify(val)} is not an IPv${fam} address`);
    }
  }
  // STUNPort -1 disables STUN; 0 means the default 3478. DERPPort 0 means 443.
  if (n.STUNPort !== undefined && (n.STUNPort < -1 || n.STUNPort > 65535)) fail(`${at}.stunport`, `${n.STUNPort} is not a port (or -1)`);
  if (n.DERPPort !== undefined && (n.DERPPort < 0 || n.DERPPort > 65535)) fail(`${at}.derpport`, `${n.DERPPort} is not a port`);
  const out: DERPNode = { Name: n.Name!, RegionID: regionId, HostName: n.HostName! };
  // Keep Go's omitempty behaviour: zero values are left out.
  for (const k of ['CertName', 'IPv4', 'IPv6', 'STUNPort', 'STUNOnly', 'DERPPort', 'InsecureForTests', 'STUNTestIP', 'CanPort80'] as const) {
    const val = n[k];
    if (val !== undefined && val !== '' && val !== 0 && val !== false) (out as unknown as Record<string, unknown>)[k] = val;
  }
  return out;
}

function readHomeParams(v: unknown, at: string, fail: Fail): DERPMap['HomeParams'] {
  if (!isObj(v)) return fail(at, 'expected a mapping');
  const scoreKey = Object.keys(v).find((k) => k.toLowerCase() === 'regionscore');
  if (!scoreKey || v[scoreKey] === null) return {};
  const scores = v[scoreKey];
  if (!isObj(scores)) return fail(`${at}.${scoreKey}`, 'expected a mapping of region ids to numbers');
  const out: Record<string, number> = {};
  for (const [id, s] of Object.entries(scores)) {
    if (typeof s !== 'number' || !Number.isFinite(s)) fail(`${at}.${scoreKey}.${id}`, `expected a number, got ${JSON.stringify(s)}`);
    out[id] = s as number;
  }
  return { RegionScore: out };
}
