// Output formats shared by every command: human text by default, or json (indented with
// tabs), json-line (one line) or yaml when -o asks for it. Proto messages are first put in
// headscale's CLI form (goform.ts, through CliContext.printMessage).

import YAML from 'yaml';

export const OUTPUT_FORMATS = ['json', 'json-line', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function formatMachine(value: unknown, format: OutputFormat): string {
  switch (format) {
    case 'json':
      // Go's json.MarshalIndent(v, "", "\t"), as headscale prints.
      return JSON.stringify(value, null, '\t');
    case 'json-line':
      return JSON.stringify(value);
    case 'yaml':
      return YAML.stringify(value).trimEnd();
  }
}

/** Errors go to stderr in the requested format, so scripts asking for JSON can parse them. */
export function formatError(message: string, format: OutputFormat | undefined): string {
  return format ? formatMachine({ error: message }, format) : `Error: ${message}`;
}
