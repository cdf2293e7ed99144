// Handshakes answered on worker threads (src/noise/responder-pool.ts): a real client
// completes the handshake with the worker's answer, reads the early payload and the
// records after it; a bad initiation is refused with the responder's own error; a worker
// that dies with handshakes out costs none of them.
import { afterEach, test } from 'vitest';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { CipherState } from '../../src/noise/cipher-state.js';
import { resumeCiphers, type ControlAnswer } from '../../src/noise/control-answer.js';
import { createInitiation } from '../../src/noise/control-handshake.js';
import { EARLY_PAYLOAD_HEADER_LEN, EARLY_PAYLOAD_MAGIC } from '../../src/noise/early-payload.js';
import { formatChallengePublic, generateKeyPair, prepareStaticKey } from '../../src/noise/keys.js';
import { HEADER_LEN, MSG_TYPE_RECORD } from '../../src/noise/messages.js';
import { ResponderPool, type ResponderOutcome } from '../../src/noise/responder-pool.js';

const server = prepareStaticKey(generateKeyPair().privateKey);
const pools: ResponderPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

function pool(workers: number, onWorkerError?: (e: Error) => void): ResponderPool {
  const p = new ResponderPool(server, { workers, onWorkerError });
  pools.push(p);
  return p;
}

const answer = (p: ResponderPool, initiation: Uint8Array, early = true) =>
  new Promise<ResponderOutcome>((resolve) => p.answer(initiation, early, resolve));

const EMPTY = Buffer.alloc(0);

/** What a client makes of an answer: its ciphers, the early payload's JSON, and one record each way. */
function clientSide(ci: ReturnType<typeof createInitiation>, a: ControlAnswer) {
  const c = ci.complete(a.responseBytes);
  let early: unknown = null;
  if (a.earlyRecord !== null) {
    const rec = Buffer.from(a.earlyRecord);
    assert.equal(rec[0], MSG_TYPE_RECORD);
    assert.equal(rec.readUInt16BE(1), rec.length - HEADER_LEN);
    const plain = c.recv.decryptWithAd(EMPTY, rec.subarray(HEADER_LEN));
    assert.deepEqual(plain.subarray(0, EARLY_PAYLOAD_MAGIC.length), EARLY_PAYLOAD_MAGIC);
    early = JSON.parse(plain.subarray(EARLY_PAYLOAD_HEADER_LEN).toString('utf8'));
  }
  const s = resumeCiphers(a);
  const down = c.recv.decryptWithAd(EMPTY, s.send.encryptWithAd(EMPTY, Buffer.from('down'))).toString();
  const up = s.recv.decryptWithAd(EMPTY, c.send.encryptWithAd(EMPTY, Buffer.from('up'))).toString();
  return { early, down, up, handshakeHash: Buffer.from(c.handshakeHash) };
}

test('a worker answers a burst of initiations; each client completes its handshake and reads what follows', async () => {
  const p = pool(1);
  const machines = Array.from({ length: 50 }, () => generateKeyPair());
  const inits = machines.map((m) => createInitiation(m.privateKey, server.publicKey, 113));
  const outcomes = await Promise.all(inits.map((ci) => answer(p, ci.initiationBytes)));
  assert.equal(p.inFlight, 0);
  outcomes.forEach((o, i) => {
    assert.ok(o.ok, `initiation ${i} refused: ${o.ok ? '' : o.error.message}`);
    const a = o.answer;
    assert.deepEqual(Buffer.from(a.clientMachineKey), machines[i]!.publicKey);
    assert.equal(a.protocolVersion, 113);
    const seen = clientSide(inits[i]!, a);
    assert.deepEqual(seen.early, { NodeKeyChallenge: formatChallengePublic(a.challengePublic) });
    assert.equal(seen.down, 'down', 'the server continues after the early record with the next nonce');
    assert.equal(seen.up, 'up');
    assert.deepEqual(seen.handshakeHash, Buffer.from(a.handshakeHash));
    assert.equal(a.send.counter, 1);
    assert.equal(a.recv.counter, 0);
  });
  const challenges = new Set(outcomes.map((o) => (o.ok ? Buffer.from(o.answer.challengePublic).toString('hex') : '')));
  assert.equal(challenges.size, 50, 'every connection has its own NodeKeyChallenge');
});

test('without the early payload the send cipher starts at nonce 0', async () => {
  const ci = createInitiation(generateKeyPair().privateKey, server.publicKey, 113);
  const o = await answer(pool(1), ci.initiationBytes, false);
  assert.ok(o.ok);
  assert.equal(o.answer.earlyRecord, null);
  assert.equal(o.answer.send.counter, 0);
  assert.equal(clientSide(ci, o.answer).down, 'down');
});

test('an initiation for another server key is refused with the responder error, from the worker and without one', async () => {
  const other = generateKeyPair();
  const ci = createInitiation(generateKeyPair().privateKey, other.publicKey, 113);
  for (const workers of [1, 0]) {
    const o = await answer(pool(workers), ci.initiationBytes);
    assert.ok(!o.ok);
    assert.equal(o.error.name, 'NoiseError');
    assert.equal((o.error as { code?: string }).code, 'DECRYPT_FAILED');
    assert.match(o.error.message, /decrypting initiator static key failed/);
  }
});

test('with no workers the answer comes synchronously', () => {
  const ci = createInitiation(generateKeyPair().privateKey, server.publicKey, 113);
  let got: ResponderOutcome | null = null;
  pool(0).answer(ci.initiationBytes, true, (o) => (got = o));
  assert.ok(got !== null && (got as ResponderOutcome).ok);
});

test('a worker that dies with handshakes out: they and later ones are answered on this thread', async () => {
  const errors: Error[] = [];
  const p = pool(1, (e) => errors.push(e));
  // Start the worker and let it answer once.
  const first = createInitiation(generateKeyPair().privateKey, server.publicKey, 113);
  assert.ok((await answer(p, first.initiationBytes)).ok);
  const inits = Array.from({ length: 20 }, () => createInitiation(generateKeyPair().privateKey, server.publicKey, 113));
  const pending = inits.map((ci) => answer(p, ci.initiationBytes));
  await Promise.resolve(); // the batch has gone to the worker
  const worker = (p as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker;
  await worker.terminate();
  const outcomes = await Promise.all(pending);
  outcomes.forEach((o, i) => {
    assert.ok(o.ok);
    assert.equal(clientSide(inits[i]!, o.answer).down, 'down');
  });
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /handshake worker exited/);
  const later = createInitiation(generateKeyPair().privateKey, server.publicKey, 113);
  let sync: ResponderOutcome | null = null;
  p.answer(later.initiationBytes, true, (o) => (sync = o));
  assert.ok(sync !== null, 'after a failure the pool answers on this thread, at once');
});

test('a handed-over cipher cannot be used where it was', () => {
  const c = new CipherState(Buffer.alloc(32, 3), 'tailscale-be');
  c.encryptWithAd(EMPTY, Buffer.from('x'));
  const h = c.handOver();
  assert.equal(h.counter, 1);
  assert.throws(() => c.encryptWithAd(EMPTY, Buffer.from('y')), /no longer usable/);
  const resumed = CipherState.resume(h.key, h.counter, 'tailscale-be');
  const twin = new CipherState(Buffer.alloc(32, 3), 'tailscale-be');
  twin.encryptWithAd(EMPTY, Buffer.from('x'));
  assert.deepEqual(resumed.encryptWithAd(EMPTY, Buffer.from('z')), twin.encryptWithAd(EMPTY, Buffer.from('z')));
});
