import type { Readable } from 'node:stream';
import { NoiseError } from './errors.js';

/**
 * Resolves with exactly n bytes from a stream in paused mode, leaving the
 * rest buffered in the stream (so it can later be piped or flowed as usual).
 */
export function readExact(stream: Readable, n: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: Buffer) => {
      if (settled) return;
      settled = true;
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve(value as Buffer);
    };
    const onReadable = () => {
      const b = stream.read(n) as Buffer | null;
      if (b === null) return;
      if (b.length < n) finish(new NoiseError('TRUNCATED', `connection ended after ${b.length} of ${n} bytes of ${what}`));
      else finish(null, b);
    };
    const onEnd = () => finish(new NoiseError('TRUNCATED', `connection ended before ${what} (${n} bytes) arrived`));
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new NoiseError('TRUNCATED', `connection closed before ${what} arrived`));
    if (stream.destroyed) {
      finish(new NoiseError('TRUNCATED', `connection closed before ${what} arrived`));
      return;
    }
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    onReadable();
  });
}
