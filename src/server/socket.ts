// The admin socket's path may be shared (the zero-setup default lives in the home folder):
// a socket file left by a stopped server is removed, but one a running server answers on
// is not taken over: that would cut its admin off without a word.

import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (ok: boolean) => {
      c.destroy();
      resolve(ok);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}

export async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`unix_socket ${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new Error(`unix_socket ${path}: another server is listening there (stop it, or set unix_socket)`);
  unlinkSync(path);
}
