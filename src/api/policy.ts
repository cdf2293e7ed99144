// What the REST API needs from whoever owns the ACL policy. Kept here, next to its only
// caller, so the policy owner can implement it without the API knowing how policies are stored.

export interface PolicyDocument {
  /** The policy text exactly as stored (HuJSON). */
  policy: string;
  /** When it was last set; null when the policy comes from a file or was never set. */
  updatedAt: Date | null;
}

export interface PolicyService {
  get(): Promise<PolicyDocument>;
  /** Validates and applies `text`; throws AdminError(400) naming the problem when refused. */
  set(text: string): Promise<PolicyDocument>;
  /** Validates `text` against the live tailnet without applying it. */
  check?(text: string): Promise<void>;
}
