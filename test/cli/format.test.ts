// Pure parts of the CLI: flag value parsers, tables, key display, output formats, endpoint choice.

import assert from 'node:assert/strict';
import { test } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { collectList, collectTags, parseExpiration, parseId, parseRfc3339, parseUserRef } from '../../src/cli/args.js';
import { apiKeyPrefix } from '../../src/cli/commands/apikeys.js';
import { keyPrefix } from '../../src/cli/commands/preauthkeys.js';
import { remoteEndpoint } from '../../src/cli/endpoint.js';
import { formatError, formatMachine } from '../../src/cli/output.js';
import { renderTable, shortKey, tableTime } from '../../src/cli/table.js';

test('flag parsers accept good values and refuse bad ones with commander errors', () => {
  assert.equal(parseId('42'), 42);
  for (const bad of ['0', '-1', 'x', '1.5', '']) assert.throws(() => parseId(bad), InvalidArgumentError);
  assert.equal(parseExpiration('90d'), 90 * 86_400_000);
  assert.equal(parseExpiration('1h30m'), 5_400_000);
  assert.throws(() => parseExpiration('soon'), InvalidArgumentError);
  assert.throws(() => parseExpiration('0'), InvalidArgumentError);
  assert.equal(parseRfc3339('2025-08-27T10:00:00Z').toISOString(), '2025-08-27T10:00:00.000Z');
  assert.throws(() => parseRfc3339('2025-08-27'), InvalidArgumentError);
  assert.deepEqual(collectList('a, b,,c', ['z']), ['z', 'a', 'b', 'c']);
  assert.deepEqual(collectList('', undefined), []);
  assert.deepEqual(collectTags('tag:a,tag:b', undefined), ['tag:a', 'tag:b']);
  assert.throws(() => collectTags('web', undefined), /tag:name/);
  assert.throws(() => collectTags('tag:Web', undefined), /lowercase/);
  assert.deepEqual(parseUserRef('12'), { id: 12 });
  assert.deepEqual(parseUserRef('alice'), { name: 'alice' });
});

test('tables pad columns and spread multi-line cells over rows', () => {
  const out = renderTable(['ID', 'Tags'], [['1', 'tag:a\ntag:bb'], ['22', '']]);
  assert.equal(out, ['ID | Tags', '1  | tag:a', '   | tag:bb', '22 |'].join('\n'));
  assert.equal(tableTime('2025-01-02T03:04:05Z'), '2025-01-02 03:04:05');
  assert.equal(tableTime(null), '');
});

test('keys are shortened like Tailscale ShortString; prefixes parsed from every form', () => {
  assert.equal(shortKey(`nodekey:${'00'.repeat(32)}`), '[AAAAA]');
  assert.equal(shortKey('odd'), 'odd');
  assert.equal(keyPrefix(`hskey-auth-abcdefghijkl-${'x'.repeat(64)}`), 'abcdefghijkl');
  assert.equal(keyPrefix('hskey-auth-abcdefghijkl-***'), 'abcdefghijkl');
  assert.equal(keyPrefix('legacy-key'), null);
  assert.equal(apiKeyPrefix('hskey-api-abcdefghijkl-***'), 'abcdefghijkl');
  assert.equal(apiKeyPrefix('abcdefghijkl'), 'abcdefghijkl');
  assert.equal(apiKeyPrefix('nope'), null);
});

test('machine formats and error output', () => {
  const v = [{ id: '1', name: 'a' }];
  assert.deepEqual(JSON.parse(formatMachine(v, 'json')), v);
  assert.equal(formatMachine(v, 'json-line'), '[{"id":"1","name":"a"}]');
  assert.equal(formatMachine(v, 'yaml'), '- id: "1"\n  name: a');
  assert.equal(formatError('boom', undefined), 'Error: boom');
  assert.deepEqual(JSON.parse(formatError('boom', 'json')), { error: 'boom' });
});

test('remote endpoint comes from the environment, headscale names included', () => {
  assert.equal(remoteEndpoint({}), null);
  const ep = remoteEndpoint({ HEADSCALE_CLI_ADDRESS: 'hs.example.com:443', HEADSCALE_CLI_API_KEY: 'k' });
  assert.ok(ep && ep.kind === 'remote');
  assert.equal(ep.url.origin, 'https://hs.example.com');
  assert.equal(ep.apiKey, 'k');
  assert.throws(() => remoteEndpoint({ SWITCHBOARD_CLI_ADDRESS: 'http://x' }), /SWITCHBOARD_CLI_API_KEY must be set/);
  assert.throws(() => remoteEndpoint({ SWITCHBOARD_CLI_ADDRESS: 'ftp://x', SWITCHBOARD_CLI_API_KEY: 'k' }), /http or https/);
});
