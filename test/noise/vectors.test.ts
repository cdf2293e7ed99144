import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { IKInitiator, IKResponder } from '../../src/noise/handshake-ik.js';
import type { CipherState } from '../../src/noise/cipher-state.js';

// Compiled to dist/test/noise; the vectors stay in the source tree.
const file = new URL('../../../test/noise/vectors/cacophony-ik-25519-chachapoly-blake2s.json', import.meta.url);

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: Array<{ payload: string; ciphertext: string }>;
}

const { vectors } = JSON.parse(readFileSync(file, 'utf8')) as { vectors: Vector[] };
const hex = (s: string) => Buffer.from(s, 'hex');

test('the cacophony file holds at least one IK vector', () => {
  assert.ok(vectors.length >= 1);
});

for (const [i, v] of vectors.entries()) {
  test(`cacophony ${v.protocol_name} #${i}: every message matches byte for byte`, () => {
    const init = new IKInitiator({
      prologue: hex(v.init_prologue),
      staticPrivate: hex(v.init_static),
      ephemeralPrivate: hex(v.init_ephemeral),
      remoteStaticPublic: hex(v.init_remote_static),
    });
    const resp = new IKResponder({
      prologue: hex(v.resp_prologue),
      staticPrivate: hex(v.resp_static),
      ephemeralPrivate: hex(v.resp_ephemeral),
    });

    const [m0, m1, ...transport] = v.messages;
    const c0 = init.writeMessage1(hex(m0.payload));
    assert.equal(c0.toString('hex'), m0.ciphertext, 'message 1 ciphertext');
    assert.equal(resp.readMessage1(c0).toString('hex'), m0.payload, 'message 1 payload');

    const c1 = resp.writeMessage2(hex(m1.payload));
    assert.equal(c1.toString('hex'), m1.ciphertext, 'message 2 ciphertext');
    assert.equal(init.readMessage2(c1).toString('hex'), m1.payload, 'message 2 payload');

    const ri = init.split();
    const rr = resp.split();
    assert.equal(ri.handshakeHash.toString('hex'), v.handshake_hash, 'initiator handshake hash');
    assert.equal(rr.handshakeHash.toString('hex'), v.handshake_hash, 'responder handshake hash');

    // After the handshake messages alternate, starting with the initiator.
    transport.forEach((m, j) => {
      const fromInitiator = j % 2 === 0;
      const [tx, rx]: [CipherState, CipherState] = fromInitiator ? [ri.send, rr.recv] : [rr.send, ri.recv];
      const ct = tx.encryptWithAd(Buffer.alloc(0), hex(m.payload));
      assert.equal(ct.toString('hex'), m.ciphertext, `transport message ${j + 2}`);
      assert.equal(rx.decryptWithAd(Buffer.alloc(0), ct).toString('hex'), m.payload);
    });
  });
}

test('a tampered vector message is rejected with a clear error', () => {
  const v = vectors[0];
  const resp = new IKResponder({ prologue: hex(v.resp_prologue), staticPrivate: hex(v.resp_static) });
  const bad = hex(v.messages[0].ciphertext);
  bad[40] ^= 1;
  assert.throws(() => resp.readMessage1(bad), { name: 'NoiseError', code: 'DECRYPT_FAILED', message: /static key/ });
});

test('a different prologue breaks the handshake', () => {
  const v = vectors[0];
  const init = new IKInitiator({
    prologue: Buffer.from('other'),
    staticPrivate: hex(v.init_static),
    remoteStaticPublic: hex(v.init_remote_static),
  });
  const resp = new IKResponder({ prologue: hex(v.resp_prologue), staticPrivate: hex(v.resp_static) });
  assert.throws(() => resp.readMessage1(init.writeMessage1()), { code: 'DECRYPT_FAILED' });
});
