import { describe, expect, it } from 'vitest';
import { Waiters } from '../../src/util/waiters.js';

type R = { kind: string };

describe('Waiters', () => {
  it('wakes every waiter of a key once, and only that key', () => {
    const ws = new Waiters<R>();
    const got: string[] = [];
    ws.add('a', (r) => got.push(`a1:${r.kind}`), { aborted: { kind: 'aborted' } });
    ws.add('a', (r) => got.push(`a2:${r.kind}`), { aborted: { kind: 'aborted' } });
    ws.add('b', (r) => got.push(`b:${r.kind}`), { aborted: { kind: 'aborted' } });
    expect(ws.size).toBe(3);
    ws.wake('a', { kind: 'approved' });
    ws.wake('a', { kind: 'again' });
    expect(got).toEqual(['a1:approved', 'a2:approved']);
    expect(ws.has('a')).toBe(false);
    expect(ws.keys()).toEqual(['b']);
    expect(ws.size).toBe(1);
  });

  it('an abort ends only its own wait, runs its cleanup and leaves no entry behind', () => {
    const ws = new Waiters<R>();
    const ac = new AbortController();
    const got: string[] = [];
    let cleaned = 0;
    const w = ws.add('a', (r) => got.push(r.kind), { signal: ac.signal, aborted: { kind: 'aborted' }, cleanup: () => cleaned++ });
    ws.add('a', (r) => got.push(`other:${r.kind}`), { aborted: { kind: 'aborted' } });
    ac.abort();
    expect(w.active).toBe(false);
    expect(got).toEqual(['aborted']);
    expect(cleaned).toBe(1);
    w.done({ kind: 'late' });
    expect(got).toEqual(['aborted']);
    expect(cleaned).toBe(1);
    ws.wakeAll({ kind: 'closed' });
    expect(got).toEqual(['aborted', 'other:closed']);
    expect(ws.size).toBe(0);
    expect(ws.keys()).toEqual([]);
  });

  it('a waiter done by hand no longer listens to its signal', () => {
    const ws = new Waiters<R>();
    const ac = new AbortController();
    const got: string[] = [];
    const w = ws.add('a', (r) => got.push(r.kind), { signal: ac.signal, aborted: { kind: 'aborted' } });
    w.done({ kind: 'expired' });
    ac.abort();
    expect(got).toEqual(['expired']);
    expect(ws.has('a')).toBe(false);
  });
});
