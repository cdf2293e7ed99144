// Schema-validation failures worded like the API's other 400s: one sentence naming the
// field (`field "reusable" must be a boolean`), so clients see one style of message
// whether a schema or a route refused the request.

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

interface ValidationFailure {
  validation: AjvError[];
  validationContext?: string;
  message: string;
}

const ARTICLE: Record<string, string> = {
  boolean: 'a boolean',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

function typeWords(t: unknown): string {
  const list = (Array.isArray(t) ? t : String(t).split(',')).filter((x) => x !== 'null');
  // A protojson int64 may come as a number or a string: say so in those words.
  if (list.length === 2 && list.includes('string') && (list.includes('integer') || list.includes('number'))) return 'a string or a number';
  return list.map((x) => ARTICLE[x] ?? x).join(' or ');
}

/** "field "aclTags"" for a body or query field, "path parameter "nodeId"" for a path one. */
function subject(context: string | undefined, path: string[], missing?: string): string {
  const top = missing ?? path[0];
  if (!top) return context === 'body' ? 'request body' : context === 'querystring' ? 'query' : 'request';
  return context === 'params' ? `path parameter "${top}"` : `field "${top}"`;
}

export function validationMessage(err: ValidationFailure): string {
  const e = err.validation[0];
  if (!e) return err.message;
  const ctx = err.validationContext;
  const path = e.instancePath.split('/').filter(Boolean);
  const what = subject(ctx, path, e.keyword === 'required' ? String(e.params.missingProperty) : undefined);
  // An element of a list: talk about the list ("must be an array of strings").
  if (path.length > 1 && e.keyword === 'type') return `${what} must be an array of ${String(e.params.type)}s`;
  switch (e.keyword) {
    case 'required':
      return `${what} is required`;
    case 'type':
      return path.length === 0 && ctx === 'body' ? 'request body must be a JSON object' : `${what} must be ${typeWords(e.params.type)}`;
    case 'format':
      return e.params.format === 'date-time'
        ? `${what} must be an RFC 3339 timestamp like 2025-01-31T12:00:00Z`
        : `${what} must be a valid ${String(e.params.format)}`;
    case 'pattern':
      return `${what} is malformed (must match ${String(e.params.pattern)})`;
    case 'maxLength':
      return `${what} must be at most ${String(e.params.limit)} characters`;
    case 'minLength':
      return `${what} must not be empty`;
    case 'enum':
      return `${what} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${what} ${e.message ?? 'is invalid'}`;
  }
}
