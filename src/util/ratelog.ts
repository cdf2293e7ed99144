// A log line that may fire thousands of times a second (a flood of refused connections):
// the first occurrence is written at once, later ones within the interval only counted,
// and the count is written as one summary line when the interval ends.

export class RateLimitedLog {
  private suppressed = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs: number,
    private readonly summary: (n: number, seconds: number) => string,
  ) {}

  log(line: string): void {
    if (this.timer) {
      this.suppressed++;
      return;
    }
    this.write(line);
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = null;
    const n = this.suppressed;
    this.suppressed = 0;
    if (n > 0) {
      this.write(this.summary(n, this.intervalMs / 1000));
      // Keep the window open while the flood goes on, so it stays one line per interval.
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes any pending count now and stops the timer (server shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed > 0) this.write(this.summary(this.suppressed, this.intervalMs / 1000));
    this.suppressed = 0;
  }
}
