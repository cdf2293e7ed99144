// Plain-text tables like headscale's (pterm) listings: a header row, " | " between columns,
// cells may span several lines. Colours never appear here, so widths stay exact.

export function renderTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) =>
    Math.max(...all.map((r) => Math.max(...(r[col] ?? '').split('\n').map((l) => l.length)))),
  );
  const lines: string[] = [];
  for (const row of all) {
    const cells = header.map((_, col) => (row[col] ?? '').split('\n'));
    const height = Math.max(...cells.map((c) => c.length));
    for (let i = 0; i < height; i++) {
      lines.push(
        cells
          .map((c, col) => (c[i] ?? '').padEnd(widths[col]!))
          .join(' | ')
          .trimEnd(),
      );
    }
  }
  return lines.join('\n');
}

/** headscale's table date format ("2006-01-02 15:04:05"), in UTC like its output. */
export function tableTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * Tailscale's short key form: "[" + first 5 base64 chars of the raw key + "]".
 * Keys arrive as "nodekey:<hex>" / "mkey:<hex>"; anything else is shown as is.
 */
export function shortKey(key: string): string {
  const m = /^[a-z]+:([0-9a-f]{64})$/.exec(key);
  if (!m) return key;
  return `[${Buffer.from(m[1]!, 'hex').toString('base64').slice(0, 5)}]`;
}
