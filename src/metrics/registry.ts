// A small Prometheus registry: counters and gauges with labels, rendered in the text
// exposition format (version 0.0.4). Gauges may be computed at scrape time.

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return '{' + keys.map((k) => `${k}="${esc(labels[k]!)}"`).join(',') + '}';
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter' as const;
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | Array<[Labels, number]>,
  ) {}
  render(): string[] {
    const v = this.read();
    if (typeof v === 'number') return [`${this.name} ${v}`];
    return v.map(([l, n]) => `${this.name}${labelKey(l)} ${n}`);
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.metrics.push(c);
    return c;
  }

  gauge(name: string, help: string, read: () => number | Array<[Labels, number]>): Gauge {
    const g = new Gauge(name, help, read);
    this.metrics.push(g);
    return g;
  }

  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) {
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return out.join('\n') + '\n';
  }
}
