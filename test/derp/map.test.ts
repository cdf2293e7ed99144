import { afterAll as after, test } from 'vitest';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDerpMap, embeddedDerpRegion, withEmbeddedRegion, DerpMapError } from '../../src/derp/map.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-derp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function derpCfg(over: Partial<Config['derp']>): Config['derp'] {
  const { config } = loadConfig({ cwd: dir, env: {} });
  return { ...config.derp, ...over };
}

/** Tailscale's JSON spelling, as served at controlplane.tailscale.com/derpmap/default. */
const TAILSCALE_JSON = {
  Regions: {
    '1': {
      RegionID: 1,
      RegionCode: 'nyc',
      RegionName: 'New York City',
      Nodes: [{ Name: '1f', RegionID: 1, HostName: 'derp1f.tailscale.com', IPv4: '199.38.181.104', IPv6: '2607:f740:f::bc', CanPort80: true }],
    },
    '2': {
      RegionID: 2,
      RegionCode: 'sfo',
      RegionName: 'San Francisco',
      Nodes: [{ Name: '2d', RegionID: 2, HostName: 'derp2d.tailscale.com', STUNPort: 0, DERPPort: 0 }],
    },
  },
};

/** headscale's YAML spelling (derp-example.yaml layout). */
const HEADSCALE_YAML = `
regions:
  1: null
  900:
    regionid: 900
    regioncode: custom
    regionname: My Region
    nodes:
      - name: 900a
        regionid: 900
        hostname: myderp.example.com
        ipv4: 198.51.100.1
        ipv6: 2001:db8::1
        stunport: 0
        stunonly: false
        derpport: 0
        canport80: true
`;

let server: Server;
let base = '';
const hits = new Map<string, number>();
await new Promise<void>((resolve) => {
  server = createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    if (req.url === '/derpmap/default') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(TAILSCALE_JSON));
    } else if (req.url === '/garbage') {
      res.end('<html>not json</html>');
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  server.listen(0, '127.0.0.1', () => {
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    resolve();
  });
});
after(() => server.close());

test('headscale YAML file: lower-case keys become tailcfg names', async () => {
  const map = await loadDerpMap(derpCfg({ paths: [file('hs.yaml', HEADSCALE_YAML)] }));
  assert.deepEqual(Object.keys(map.Regions), ['900']);
  assert.deepEqual(map.Regions['900'], {
    RegionID: 900,
    RegionCode: 'custom',
    RegionName: 'My Region',
    Nodes: [{ Name: '900a', RegionID: 900, HostName: 'myderp.example.com', IPv4: '198.51.100.1', IPv6: '2001:db8::1', CanPort80: true }],
  });
});

test('Tailscale JSON in a .yaml file and headscale YAML keys in a .json file are both read', async () => {
  const a = await loadDerpMap(derpCfg({ paths: [file('ts.yaml', JSON.stringify(TAILSCALE_JSON))] }));
  assert.deepEqual(Object.keys(a.Regions), ['1', '2']);
  assert.equal(a.Regions['1']!.Nodes[0]!.HostName, 'derp1f.tailscale.com');
  const b = await loadDerpMap(
    derpCfg({ paths: [file('hs.json', JSON.stringify({ regions: { 901: { regioncode: 'x', nodes: [{ name: 'a', hostname: 'h.example' }] } } }))] }),
  );
  // Missing region ids are taken from the key, as the map key is what clients index by.
  assert.equal(b.Regions['901']!.Nodes[0]!.RegionID, 901);
});

test('URL then file: later sources override, null removes a region', async () => {
  const warnings: string[] = [];
  const map = await loadDerpMap(derpCfg({ urls: [`${base}/derpmap/default`], paths: [file('override.yaml', HEADSCALE_YAML)] }), {
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(Object.keys(map.Regions), ['2', '900']);
  assert.deepEqual(warnings, []);

  const replace = file('replace.yaml', 'regions:\n  2:\n    regioncode: mine\n    regionname: Mine\n    nodes:\n      - {name: m, hostname: m.example, stunport: -1}\n');
  const map2 = await loadDerpMap(derpCfg({ urls: [`${base}/derpmap/default`], paths: [replace] }));
  assert.equal(map2.Regions['2']!.RegionCode, 'mine');
  assert.equal(map2.Regions['2']!.Nodes[0]!.STUNPort, -1);
  assert.equal(map2.Regions['1']!.RegionCode, 'nyc');
});

test('a failing URL is skipped with a warning while other sources load', async () => {
  const warnings: string[] = [];
  const map = await loadDerpMap(derpCfg({ urls: [`${base}/missing`, `${base}/garbage`, `${base}/derpmap/default`] }), { warn: (m) => warnings.push(m) });
  assert.deepEqual(Object.keys(map.Regions), ['1', '2']);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /\/missing: HTTP 404/);
  assert.match(warnings[1]!, /\/garbage: not valid JSON/);
});

test('when nothing loads, loading fails', async () => {
  // One error, and no warning before it claiming the load continues.
  const warnings: string[] = [];
  await assert.rejects(loadDerpMap(derpCfg({ urls: [`${base}/missing`] }), { warn: (m) => warnings.push(m) }), /no DERP map could be loaded.*HTTP 404.*derp\.urls: \[\]/);
  assert.deepEqual(warnings, []);
});

test('no sources give an empty map', async () => {
  assert.deepEqual(await loadDerpMap(derpCfg({})), { Regions: {} });
});

test('an injected fetch is used', async () => {
  const seen: string[] = [];
  const fake = (async (url: string | URL | Request) => {
    seen.push(String(url));
    return new Response(JSON.stringify(TAILSCALE_JSON));
  }) as typeof fetch;
  const map = await loadDerpMap(derpCfg({ urls: ['https://derp.invalid/map'] }), { fetch: fake });
  assert.deepEqual(seen, ['https://derp.invalid/map']);
  assert.equal(Object.keys(map.Regions).length, 2);
});

test('validation errors name the file and the field', async () => {
  const cases: Array<[string, RegExp]> = [
    ['regions:\n  900:\n    regioncode: x\n    nodes:\n      - name: a\n', /bad1\.yaml: regions\.900\.nodes\[0\]\.hostname: required$/],
    ['regions:\n  900:\n    regionid: 901\n    regioncode: x\n    nodes: []\n', /regions\.900\.regionid: 901 differs from the region's key 900/],
    ['regions:\n  abc:\n    regioncode: x\n', /regions\.abc: region ids must be positive integers/],
    ['regions:\n  900:\n    regioncode: x\n    nodes:\n      - {name: a, hostname: h, ipv4: 2001:db8::1}\n', /regions\.900\.nodes\[0\]\.ipv4: "2001:db8::1" is not an IPv4 address/],
    ['regions:\n  900:\n    regioncode: x\n    nodes:\n      - {name: a, hostname: h, derpport: "443"}\n', /regions\.900\.nodes\[0\]\.derpport: expected an integer/],
    ['- just\n- a list\n', /expected a mapping with a "regions" key/],
    ['regions: {900: [unclosed\n', /not valid YAML\/JSON/],
  ];
  for (const [i, [text, pattern]] of cases.entries()) {
    const p = file(`bad${i + 1}.yaml`, text);
    await assert.rejects(loadDerpMap(derpCfg({ paths: [p] })), (e: unknown) => {
      assert.ok(e instanceof DerpMapError, String(e));
      assert.ok(e.message.startsWith(p), e.message);
      assert.match(e.message, pattern);
      return true;
    });
  }
});

test('unknown fields warn', async () => {
  const warnings: string[] = [];
  await loadDerpMap(derpCfg({ paths: [file('extra.yaml', 'regions:\n  900:\n    regioncode: x\n    colour: red\n    nodes:\n      - {name: a, hostname: h}\n')] }), {
    warn: (m) => warnings.push(m),
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /extra\.yaml: regions\.900\.colour: unknown field/);
});

test('embedded region from server_url and stun_listen_addr, like headscale', () => {
  const { config } = loadConfig({ cwd: dir, env: { SWITCHBOARD_DERP_SERVER_IPV4: '198.51.100.7', SWITCHBOARD_DERP_SERVER_STUN_LISTEN_ADDR: '0.0.0.0:3479' } });
  assert.deepEqual(embeddedDerpRegion(config.derp, 'https://hs.example.org'), {
    RegionID: 999,
    RegionCode: 'switchboard',
    RegionName: 'Switchboard Embedded DERP',
    Nodes: [{ Name: '999', RegionID: 999, HostName: 'hs.example.org', IPv4: '198.51.100.7', STUNPort: 3479, DERPPort: 443 }],
  });
  const r = embeddedDerpRegion(config.derp, 'http://[fd7a::1]:8080');
  assert.equal(r.Nodes[0]!.HostName, 'fd7a::1');
  assert.equal(r.Nodes[0]!.DERPPort, 8080);
  // The embedded region wins over a loaded region with the same id.
  const merged = withEmbeddedRegion({ Regions: { '999': { ...r, RegionCode: 'other' }, '1': r } }, r);
  assert.equal(merged.Regions['999']!.RegionCode, 'switchboard');
  assert.ok(merged.Regions['1']);
});
