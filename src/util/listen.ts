// host:port listen addresses as headscale writes them ("127.0.0.1:8080", "[::1]:8080", ":8080").

export function parseListenAddr(addr: string, key: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`${key}: ${JSON.stringify(addr)} is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${key}: port ${port} out of range`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}
