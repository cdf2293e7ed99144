// Database operation latency without touching the stores: the composition root wraps the
// Store in a Proxy that times every method that returns a promise, labelled by method name.

import type { Histogram } from './registry.js';

export function instrumentStore<T extends object>(store: T, latency: Histogram): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string' || prop === 'constructor') return value;
      let w = wrapped.get(prop);
      if (!w) {
        const fn = value as (...args: unknown[]) => unknown;
        w = (...args: unknown[]) => {
          const start = performance.now();
          // `target`, not the proxy, as `this`: stores keep #private fields.
          const result = fn.apply(target, args);
          if (result instanceof Promise) {
            const done = () => latency.observe({ op: prop }, (performance.now() - start) / 1000);
            result.then(done, done);
          }
          return result;
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
