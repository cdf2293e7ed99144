// Policy refusals carry Tailscale's exact wording so clients and admins see the
// same message the hosted control plane would give.

/** Where in the policy document an entry sits: keys and list indexes from the top. */
export type PolicyPath = (string | number)[];

export interface PolicyIssue {
  message: string;
  path: PolicyPath;
}

export class PolicyError extends Error {
  /** Every fault found, in document order of the checks; message joins them. */
  readonly issues: PolicyIssue[];

  constructor(message: string, issues?: PolicyIssue[], path: PolicyPath = []) {
    super(message);
    this.name = 'PolicyError';
    this.issues = issues ?? [{ message, path }];
  }
}

export function fail(message: string, path: PolicyPath = []): never {
  throw new PolicyError(message, undefined, path);
}

/**
 * Collects refusals so one submission reports every fault, not just the first one found
 * (the admin fixes them all in one go). An entry that fails to parse is skipped, so later
 * checks see the rest of the document.
 */
export class Issues {
  readonly list: PolicyIssue[] = [];

  add(message: string, path: PolicyPath = []): void {
    const key = JSON.stringify(path);
    if (!this.list.some((i) => i.message === message && JSON.stringify(i.path) === key)) this.list.push({ message, path });
  }

  /** Runs fn; a PolicyError it throws becomes an issue at path (or at the error's own path). */
  guard<T>(path: PolicyPath, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      for (const i of e.issues) this.add(i.message, i.path.length ? i.path : path);
      return undefined;
    }
  }

  throwIfAny(): void {
    // The message names each distinct fault once; issues keep every place it occurs.
    if (this.list.length) throw new PolicyError([...new Set(this.list.map((i) => i.message))].join('\n'), this.list);
  }
}
