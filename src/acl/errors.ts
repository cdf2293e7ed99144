// Policy refusals carry Tailscale's exact wording so clients and admins see the
// same message the hosted control plane would give.
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

export function fail(message: string): never {
  throw new PolicyError(message);
}
