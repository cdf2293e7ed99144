import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPTURES_1_80_3 } from '../helpers/captures.js';
import { respondToInitiation, createInitiation } from '../../src/noise/control-handshake.js';
import { formatMachinePublic, parsePrivate, publicFromPrivate, generatePrivateKey } from '../../src/noise/keys.js';
import { INITIATION_LEN, RESPONSE_LEN } from '../../src/noise/messages.js';

const fx = JSON.parse(readFileSync(join(CAPTURES_1_80_3, 'noise-initiation.json'), 'utf8')) as {
  serverPrivateKey: string;
  capabilityVersion: number;
  handshakeHeaderBase64: string;
  expectedClientMachineKey: string;
  expectedPayloadLength: number;
};

test('real tailscaled 1.80.3 initiation yields the expected machine key', () => {
  const init = Buffer.from(fx.handshakeHeaderBase64, 'base64');
  assert.equal(init.length, INITIATION_LEN);
  const r = respondToInitiation(parsePrivate(fx.serverPrivateKey), init);
  assert.equal(formatMachinePublic(r.clientMachineKey), fx.expectedClientMachineKey);
  assert.equal(r.protocolVersion, fx.capabilityVersion);
  assert.equal(fx.expectedPayloadLength, 0);
  assert.equal(r.responseBytes.length, RESPONSE_LEN);
  assert.deepEqual([...r.responseBytes.subarray(0, 3)], [2, 0, 48]);
});

test('the fixture initiation fails against any other server key', () => {
  const init = Buffer.from(fx.handshakeHeaderBase64, 'base64');
  assert.throws(() => respondToInitiation(generatePrivateKey(), init), { code: 'DECRYPT_FAILED' });
});

test('changing the cleartext version breaks the fixture (prologue binds it)', () => {
  const init = Buffer.from(fx.handshakeHeaderBase64, 'base64');
  init.writeUInt16BE(fx.capabilityVersion + 1, 0);
  assert.throws(() => respondToInitiation(parsePrivate(fx.serverPrivateKey), init), { code: 'DECRYPT_FAILED' });
});

test('our initiator produces initiations the responder accepts, same layout as the fixture', () => {
  const server = generatePrivateKey();
  const machine = generatePrivateKey();
  const ci = createInitiation(machine, publicFromPrivate(server), 113);
  const real = Buffer.from(fx.handshakeHeaderBase64, 'base64');
  assert.equal(ci.initiationBytes.length, real.length);
  assert.deepEqual(ci.initiationBytes.subarray(0, 5), real.subarray(0, 5));
  const r = respondToInitiation(server, ci.initiationBytes);
  assert.deepEqual(r.clientMachineKey, publicFromPrivate(machine));
  const c = ci.complete(r.responseBytes);
  assert.deepEqual(c.handshakeHash, r.handshakeHash);
});
