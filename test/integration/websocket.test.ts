// Browser clients reach /ts2021 over WebSocket; everything above the Noise layer (HTTP/2,
// register, the streamed map) must work the same as over the HTTP upgrade, with both
// HTTP/2 clients we have.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';

const f = useServer({});

for (const http2 of ['builtin', 'node'] as const) {
  test(`a WebSocket client (${http2} HTTP/2) registers, streams, and sees a peer come and go`, async () => {
    const t = f.srv.server.tailnet;
    const u = t.userByName('ws') ?? (await t.createUser({ name: 'ws' }));
    const { key } = await t.createPreAuthKey({ userId: u.id, reusable: true, ephemeral: false, expiration: null, tags: [] });
    const ws = f.client(`browser-${http2}`, { webSocket: true, http2 });
    assert.equal((await ws.register({ authKey: key })).MachineAuthorized, true);
    const first = await ws.startStream();
    assert.ok(first.Node?.Addresses?.length, 'first map has our addresses');
    const peer = f.client(`tcp-peer-${http2}`);
    await peer.register({ authKey: key });
    await peer.startStream();
    await ws.waitFor((nm) => nm.peerByName(`tcp-peer-${http2}`)?.Online === true, 3000, 'peer online over WebSocket');
    peer.close();
    await ws.waitFor((nm) => nm.peerByName(`tcp-peer-${http2}`)?.Online === false, 3000, 'peer offline over WebSocket');
  });
}
