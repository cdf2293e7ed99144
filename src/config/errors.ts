// A configuration problem the server cannot start with. The message always begins with
// where the problem is (key path, environment variable or file:line) so it can be fixed
// without reading code.

export class ConfigError extends Error {
  /** Dotted key path ("prefixes.v4"), environment variable name, or file path. */
  readonly key: string;

  constructor(key: string, problem: string, where?: string) {
    super(`${key}: ${problem}${where ? ` (${where})` : ''}`);
    this.name = 'ConfigError';
    this.key = key;
  }
}
