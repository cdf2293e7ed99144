// An array with a moving head: O(1) at both ends without Array.shift's copy, and the slots
// of taken entries released (compacted now and then) so a long burst does not keep them.

/** Taken-from-the-head slots tolerated before the array is compacted. */
const COMPACT_AFTER = 4096;

export class Deque<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(x: T): void {
    this.#items.push(x);
  }

  /** The oldest entry, left in place. */
  first(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  /** Takes the oldest entry. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const x = this.#items[this.#head];
    this.#items[this.#head++] = undefined; // let it be collected
    this.#settle();
    return x;
  }

  /** Takes the newest entry. */
  pop(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const x = this.#items.pop();
    this.#settle();
    return x;
  }

  /** Takes everything, oldest first. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }

  #settle(): void {
    if (this.#head >= this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
