// Prometheus metrics through prom-client, one Registry per server (never prom-client's
// global default registry: two servers in one process, as in the tests, must not share
// counts). Gauges may be computed at scrape time.

import client from 'prom-client';

export type Counter = client.Counter<string>;
export type Histogram = client.Histogram<string>;
export type Labels = Record<string, string>;

export class Registry {
  readonly registry = new client.Registry();
  readonly contentType = this.registry.contentType;

  /** The process metrics prom-client collects (CPU, memory, event loop, GC, handles). */
  collectDefaults(): void {
    client.collectDefaultMetrics({ register: this.registry });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new client.Counter({ name, help, labelNames, registers: [this.registry] });
  }

  histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    return new client.Histogram({ name, help, buckets, labelNames, registers: [this.registry] });
  }

  /** A gauge read when scraped: a number, or one value per label set. */
  gauge(name: string, help: string, read: () => number | Array<[Labels, number]>, labelNames: string[] = []): void {
    new client.Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        const v = read();
        if (typeof v === 'number') {
          this.set(v);
          return;
        }
        this.reset();
        for (const [labels, n] of v) this.set(labels, n);
      },
    });
  }

  /** A counter kept elsewhere (a plain number that only grows), read when scraped. */
  counterOf(name: string, help: string, read: () => number): void {
    new client.Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Seconds, for latencies from sub-millisecond (an in-memory change) to seconds (a slow disk). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
