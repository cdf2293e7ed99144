// Line and column of an entry in the policy text, for error reports. A small scanner over
// the same HuJSON/JSON5 the parser accepts (comments, trailing commas, unquoted keys); it
// only needs to find where each value starts, so it never judges the document.
import type { PolicyPath } from './errors.js';

export interface Position {
  line: number;
  column: number;
}

/** Finds the start of the value at path (object keys matched case-insensitively, like Go). */
export function locate(text: string, path: PolicyPath): Position | null {
  let i = 0;

  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text.startsWith('//', i)) {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (text.startsWith('/*', i)) {
        const end = text.indexOf('*/', i + 2);
        i = end < 0 ? text.length : end + 2;
      } else return;
    }
  };

  const readString = (): string => {
    const q = text[i++];
    let out = '';
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') {
        out += text[i + 1] ?? '';
        i += 2;
      } else out += text[i++];
    }
    i++;
    return out;
  };

  const readKey = (): string => {
    if (text[i] === '"' || text[i] === "'") return readString();
    const start = i;
    while (i < text.length && !/[\s:]/.test(text[i])) i++;
    return text.slice(start, i);
  };

  /** Skips one value starting at i. */
  const skipValue = (): void => {
    skip();
    const ch = text[i];
    if (ch === '"' || ch === "'") {
      readString();
    } else if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i++;
      for (;;) {
        skip();
        if (i >= text.length || text[i] === close) {
          i++;
          return;
        }
        if (ch === '{') {
          readKey();
          skip();
          i++; // ':'
        }
        skipValue();
        skip();
        if (text[i] === ',') i++;
      }
    } else {
      while (i < text.length && !/[\s,}\]]/.test(text[i])) i++;
    }
  };

  /** Descends one step: to key k of the object at i, or element k of the array at i. */
  const step = (k: string | number): boolean => {
    skip();
    const ch = text[i];
    if (ch !== '{' && ch !== '[') return false;
    const close = ch === '{' ? '}' : ']';
    i++;
    let n = 0;
    for (;;) {
      skip();
      if (i >= text.length || text[i] === close) return false;
      let match: boolean;
      if (ch === '{') {
        const key = readKey();
        skip();
        i++; // ':'
        match = typeof k === 'string' && key.toLowerCase() === k.toLowerCase();
      } else {
        match = k === n;
      }
      skip();
      if (match) return true;
      skipValue();
      skip();
      if (text[i] === ',') i++;
      n++;
    }
  };

  for (const k of path) {
    if (!step(k)) break;
  }
  skip();
  if (i > text.length) return null;
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  return { line, column: i - before.lastIndexOf('\n') };
}
