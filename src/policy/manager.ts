// Owns the policy in force: where its text comes from (a file, or the database),
// validation against the live tailnet before anything changes, and the swap.
// A refused policy never replaces the one in force.

import { readFileSync } from 'node:fs';
import { compilePolicy, parsePolicy, PolicyError, type CompiledPolicy, type Policy } from '../acl/index.js';
import type { PolicyDocument, PolicyService } from '../api/policy.js';
import type { Store } from '../db/store.js';
import { AdminError } from '../state/admin.js';
import type { Tailnet } from '../state/tailnet.js';
import { tailnetInput, type UserGroups } from './input.js';
import { CompiledPolicyView } from './view.js';
import { PolicyChecker } from './offthread.js';

export const POLICY_SETTING_KEY = 'policy';
const POLICY_UPDATED_KEY = 'policy_updated_at';

export type PolicyMode = 'file' | 'database';

export interface PolicyManagerOptions {
  mode: PolicyMode;
  /** The policy file (file mode); empty means no policy (allow-all). */
  path: string;
  /** Base URL for SSH check-mode URLs. */
  serverUrl: string;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** Told how long each full compile of the policy took (metrics). */
  onCompiled?: (seconds: number) => void;
  /** Policy groups users are in through their identity provider (oidc.groups). */
  userGroups?: UserGroups;
}

export class PolicyManager implements PolicyService {
  private text = '';
  private updatedAt: Date | null = null;
  readonly view: CompiledPolicyView;

  private constructor(
    private readonly tailnet: Tailnet,
    private readonly store: Store,
    private readonly opts: PolicyManagerOptions,
    compiled: CompiledPolicy,
    text: string,
  ) {
    this.text = text;
    this.view = new CompiledPolicyView(
      tailnet,
      compiled,
      () => this.compile(this.text),
      (err) => opts.log.error(`the policy no longer compiles after a user change; the previous one stays in force: ${err.message}`),
    );
  }

  /** Loads the policy at start-up; a policy that is refused stops start-up with the reason. */
  static async load(tailnet: Tailnet, store: Store, opts: PolicyManagerOptions): Promise<PolicyManager> {
    let text = '';
    let updatedAt: Date | null = null;
    if (opts.mode === 'file') {
      if (opts.path) text = readPolicyFile(opts.path);
    } else {
      text = (await store.getSetting(POLICY_SETTING_KEY)) ?? '';
      const at = await store.getSetting(POLICY_UPDATED_KEY);
      updatedAt = at ? new Date(at) : null;
    }
    const where = opts.mode === 'file' ? `policy.path ${opts.path}` : 'the policy stored in the database';
    let compiled: CompiledPolicy;
    try {
      compiled = timedCompile(text, tailnet, opts);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    const m = new PolicyManager(tailnet, store, opts, compiled, text);
    m.updatedAt = updatedAt;
    return m;
  }

  get mode(): PolicyMode {
    return this.opts.mode;
  }

  async get(): Promise<PolicyDocument> {
    return { policy: this.text, updatedAt: this.updatedAt };
  }

  private readonly checker = new PolicyChecker();

  /** Validates `text` against the live tailnet without applying it, off the event loop. */
  async check(text: string): Promise<void> {
    await this.checkOffThread(text);
  }

  /** Stops the checking thread. */
  async close(): Promise<void> {
    await this.checker.close();
  }

  private async checkOffThread(text: string): Promise<Policy | null> {
    try {
      return await this.checker.check(text, tailnetInput(this.tailnet, this.opts.userGroups), this.opts.serverUrl.replace(/\/+$/, ''));
    } catch (err) {
      if (err instanceof PolicyError) throw new AdminError(400, err.message);
      throw err;
    }
  }

  /** Database mode: validate, store, then apply. */
  async set(text: string): Promise<PolicyDocument> {
    if (this.opts.mode !== 'database') {
      throw new AdminError(400, `the policy comes from the file ${this.opts.path || '(none)'} (policy.mode: file); edit the file, or set policy.mode: database`);
    }
    // Refused policies (the ones anyone may try) are found off the event loop; only an
    // accepted one is compiled here, once, to be applied.
    const parsed = await this.checkOffThread(text);
    let compiled: CompiledPolicy;
    try {
      compiled = timedCompile(parsed, this.tailnet, this.opts);
    } catch (err) {
      // The tailnet changed between the check and now in a way the policy cannot take.
      if (err instanceof PolicyError) throw new AdminError(400, err.message);
      throw err;
    }
    const now = new Date();
    await this.store.putSetting(POLICY_SETTING_KEY, text);
    await this.store.putSetting(POLICY_UPDATED_KEY, now.toISOString());
    this.swap(compiled, text);
    this.updatedAt = now;
    this.opts.log.info('policy updated');
    return this.get();
  }

  /**
   * Database mode: takes the policy another instance stored. One that does not compile
   * here (it did there) leaves the current one in force, with the reason logged.
   */
  async reloadFromStore(): Promise<boolean> {
    if (this.opts.mode !== 'database') return false;
    const text = (await this.store.getSetting(POLICY_SETTING_KEY)) ?? '';
    const at = await this.store.getSetting(POLICY_UPDATED_KEY);
    if (text === this.text) return false;
    let compiled: CompiledPolicy;
    try {
      compiled = this.compile(text);
    } catch (err) {
      this.opts.log.error(`the policy another instance stored does not compile here; the previous one stays in force: ${(err as Error).message}`);
      return false;
    }
    this.swap(compiled, text);
    this.updatedAt = at ? new Date(at) : null;
    this.opts.log.info('policy updated by another instance');
    return true;
  }

  /** File mode: re-reads the file. Returns whether the policy in force changed. */
  reloadFile(): boolean {
    if (this.opts.mode !== 'file' || !this.opts.path) return false;
    let text: string;
    try {
      text = readPolicyFile(this.opts.path);
    } catch (err) {
      this.opts.log.error(`policy reload refused, the previous policy stays in force: ${(err as Error).message}`);
      return false;
    }
    if (text === this.text) return false;
    let compiled: CompiledPolicy;
    try {
      compiled = this.compile(text);
    } catch (err) {
      this.opts.log.error(`policy reload refused, the previous policy stays in force: ${this.opts.path}: ${(err as Error).message}`);
      return false;
    }
    this.swap(compiled, text);
    this.opts.log.info(`policy reloaded from ${this.opts.path}`);
    return true;
  }

  /** Routes the policy's autoApprovers approve for a node (registration order matters not). */
  autoApprovedRoutes(nodeId: number): string[] {
    const node = this.view.current.node(nodeId)?.node;
    return node ? this.view.current.autoApprovedRoutes(node) : [];
  }

  private compile(text: string): CompiledPolicy {
    return timedCompile(text, this.tailnet, this.opts);
  }

  private compileOrRefuse(text: string): CompiledPolicy {
    try {
      return this.compile(text);
    } catch (err) {
      if (err instanceof PolicyError) throw new AdminError(400, err.message);
      throw err;
    }
  }

  private swap(compiled: CompiledPolicy, text: string): void {
    this.text = text;
    this.view.replace(compiled);
    this.tailnet.emit({ kind: 'policyChanged' });
  }
}

function readPolicyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Empty text (or only whitespace) means no policy: headscale's allow-all. */
/** Compiles policy text, or an already parsed policy (null: none). */
function timedCompile(source: string | Policy | null, tailnet: Tailnet, opts: PolicyManagerOptions): CompiledPolicy {
  const start = performance.now();
  try {
    if (typeof source === 'string') return compileText(source, tailnet, opts);
    return compilePolicy(source, tailnetInput(tailnet, opts.userGroups), { baseURL: opts.serverUrl.replace(/\/+$/, '') });
  } finally {
    opts.onCompiled?.((performance.now() - start) / 1000);
  }
}

function compileText(text: string, tailnet: Tailnet, opts: PolicyManagerOptions): CompiledPolicy {
  const policy = text.trim() ? parsePolicy(text) : null;
  return compilePolicy(policy, tailnetInput(tailnet, opts.userGroups), { baseURL: opts.serverUrl.replace(/\/+$/, '') });
}
