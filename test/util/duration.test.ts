import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from '../../src/util/duration.js';

test('Go duration syntax', () => {
  const cases: Array<[string, number | null]> = [
    ['0', 0],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['1500us', 2],
    ['24h', 86_400_000],
    ['180d', 180 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['-5s', -5000],
    ['.5s', 500],
    ['', null],
    ['30', null],
    ['1x', null],
    ['h', null],
    ['1h 30m', null],
    ['thirty minutes', null],
  ];
  for (const [text, want] of cases) assert.equal(parseDuration(text), want, `parseDuration(${JSON.stringify(text)})`);
});

test('formatDuration reads back', () => {
  for (const ms of [0, 250, 1000, 90_000, 5_400_000, 86_400_000, 1500]) assert.equal(parseDuration(formatDuration(ms)), ms);
  assert.equal(formatDuration(5_400_000), '1h30m0s');
});
