import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/util/deque.js';

describe('Deque', () => {
  it('takes from both ends in order and reports its length', () => {
    const d = new Deque<number>();
    expect(d.shift()).toBeUndefined();
    expect(d.pop()).toBeUndefined();
    expect(d.first()).toBeUndefined();
    for (let i = 1; i <= 5; i++) d.push(i);
    expect(d.length).toBe(5);
    expect(d.first()).toBe(1);
    expect(d.shift()).toBe(1);
    expect(d.pop()).toBe(5);
    expect(d.shift()).toBe(2);
    expect(d.length).toBe(2);
    expect(d.drain()).toEqual([3, 4]);
    expect(d.length).toBe(0);
    d.push(6);
    expect(d.pop()).toBe(6);
    expect(d.length).toBe(0);
  });

  it('keeps its order across compactions of a long burst', () => {
    const d = new Deque<number>();
    let next = 0;
    let expected = 0;
    // Far past the compaction threshold, with the queue never empty.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 500; i++) d.push(next++);
      for (let i = 0; i < 400; i++) expect(d.shift()).toBe(expected++);
    }
    expect(d.length).toBe(next - expected);
    expect(d.first()).toBe(expected);
    expect(d.pop()).toBe(next - 1);
    const rest = d.drain();
    expect(rest[0]).toBe(expected);
    expect(rest.length).toBe(next - 1 - expected);
  });
});
