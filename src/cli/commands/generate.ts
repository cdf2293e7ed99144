// `generate private-key` (`gen`): a fresh X25519 key in Tailscale's "privkey:<hex>" text
// form, for noise.private_key_path or derp.server.private_key_path.

import { generateKeyPairSync } from 'node:crypto';
import type { Command } from 'commander';
import { formatPrivate } from '../../noise/keys.js';
import type { CliContext } from '../context.js';

export function newPrivateKey(): string {
  const { privateKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d;
  if (!d) throw new Error('the X25519 key has no private part');
  return formatPrivate(Buffer.from(d, 'base64url'));
}

export function registerGenerate(program: Command, ctx: CliContext): void {
  const gen = program.command('generate').aliases(['gen']).description('Generate commands');
  gen
    .command('private-key')
    .description('Generate a private key for the Switchboard server')
    .action((_opts: unknown, cmd: Command) => {
      const key = newPrivateKey();
      ctx.print(cmd, { private_key: key }, key);
    });
}
