// ChaCha20-Poly1305 per-record cost, pure JS vs node:crypto, at record sizes around
// the crossover; reproduces the choice of AEAD_JS_MAX_BYTES in src/noise/primitives.ts.
// Run: npm run build && node dist/bench/aead.js
import { randomBytes } from 'node:crypto';
import { chacha20Poly1305Open, chacha20Poly1305Seal } from '../src/noise/chacha20poly1305.js';
import { AEAD_JS_MAX_BYTES, aeadOpenNative, aeadSealNative } from '../src/noise/primitives.js';

type Op = (key: Uint8Array, nonce: Uint8Array, input: Uint8Array, ad: Uint8Array) => Buffer | null;

const SIZES = [16, 64, 128, 256, 512, 1024, 2048, 4077];
const ROUNDS = 15;
const BATCH_MS = 20;

let sink = 0;

/** Calls per batch so one batch takes about BATCH_MS (this also warms the JIT up). */
function calibrate(run: (n: number) => void): number {
  let n = 16;
  for (;;) {
    const t0 = process.hrtime.bigint();
    run(n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= BATCH_MS / 4) return Math.max(1, Math.round((n * BATCH_MS) / ms));
    n *= 4;
  }
}

/**
 * Median ns per call for each op. Rounds interleave the ops, so a noisy neighbour
 * slows all of them alike instead of skewing one column.
 */
function measureAll(ops: (() => Buffer | null)[]): number[] {
  const runs = ops.map((op) => (n: number) => {
    for (let i = 0; i < n; i++) sink ^= op()![0] ?? 0;
  });
  const batches = runs.map(calibrate);
  const samples: number[][] = ops.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    runs.forEach((run, k) => {
      const t0 = process.hrtime.bigint();
      run(batches[k]!);
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / batches[k]!);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1]!);
}

function main(): void {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const ad = Buffer.alloc(0); // transport records carry no AD
  console.log(`node ${process.version}; ns per record, median of ${ROUNDS} interleaved batches of ~${BATCH_MS} ms; empty AD`);
  console.log(`threshold in use: AEAD_JS_MAX_BYTES = ${AEAD_JS_MAX_BYTES}`);
  console.log('bytes   seal JS  seal native  JS/native    open JS  open native  JS/native');
  for (const size of SIZES) {
    const pt = randomBytes(size);
    const sealed = aeadSealNative(key, nonce, pt, ad);
    const op = (f: Op, input: Uint8Array) => () => f(key, nonce, input, ad);
    const [sj, sn, oj, on] = measureAll([
      op(chacha20Poly1305Seal, pt),
      op(aeadSealNative, pt),
      op(chacha20Poly1305Open, sealed),
      op(aeadOpenNative, sealed),
    ]) as [number, number, number, number];
    const f = (x: number, w: number) => x.toFixed(0).padStart(w);
    const q = (a: number, b: number) => (a / b).toFixed(2).padStart(10);
    console.log(`${String(size).padStart(5)} ${f(sj, 9)} ${f(sn, 12)} ${q(sj, sn)} ${f(oj, 10)} ${f(on, 12)} ${q(oj, on)}`);
  }
  if (sink === 0x1234_5678) console.log(''); // keeps the results observable
}

main();
