// PacketFilters JSON written with each shared SrcIPs array serialized once is byte for
// byte what JSON.stringify gives, whatever the rules carry and however arrays are shared.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packetFiltersJson } from '../../src/mapresponse/filterjson.js';
import type { FilterRule } from '../../src/tailcfg/types.js';

const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('*'), fc.constant('100.64.0.0-100.64.0.9'), fc.constant('a"b\\c\u2028'));
const ports = fc.record({ First: fc.integer({ min: 0, max: 65535 }), Last: fc.integer({ min: 0, max: 65535 }) });

test('packetFiltersJson equals JSON.stringify({ base }) with SrcIPs arrays shared between rules and calls', () => {
  fc.assert(fc.property(
    fc.array(fc.array(ip, { maxLength: 6 }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.record({
      src: fc.nat(),
      dst: fc.option(fc.array(fc.record({ IP: ip, Ports: ports }), { maxLength: 3 }), { nil: undefined }),
      proto: fc.option(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 2 }), { nil: undefined }),
      cap: fc.option(fc.array(fc.record({ Dsts: fc.array(ip, { maxLength: 2 }), CapMap: fc.dictionary(fc.string(), fc.option(fc.array(fc.jsonValue(), { maxLength: 2 }), { nil: null })) }), { maxLength: 2 }), { nil: undefined }),
    }), { maxLength: 5 }),
    (srcs, specs) => {
      const rules = specs.map((s) => {
        const r: FilterRule = { SrcIPs: srcs[s.src % srcs.length]! };
        if (s.dst) r.DstPorts = s.dst;
        if (s.proto) r.IPProto = s.proto;
        if (s.cap) r.CapGrant = s.cap as FilterRule['CapGrant'];
        // A field present but undefined is left out, as JSON.stringify does.
        if (!s.dst && !s.cap) (r as unknown as Record<string, unknown>).DstPorts = undefined;
        return r;
      });
      const want = JSON.stringify({ base: rules });
      assert.equal(packetFiltersJson(rules), want);
      assert.equal(packetFiltersJson(rules), want, 'second call, from the cached arrays');
    },
  ), { numRuns: 500 });
});
