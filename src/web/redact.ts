// What a request line may say about a URL: the path, and the names of query parameters but
// never their values (`DELETE /api/v1/preauthkey?key=...` carries a secret in the query).

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = new Set<string>();
  for (const pair of url.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    // Names come from the client too: keep them short and printable.
    names.add(/^[\w.-]{1,40}$/.test(name) ? name : '?');
  }
  const path = url.slice(0, q);
  return names.size === 0 ? path : `${path}?${[...names].map((n) => `${n}=<redacted>`).join('&')}`;
}
