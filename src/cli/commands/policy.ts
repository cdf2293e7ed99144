// `policy`: get and set talk to the server; check and compile run locally on files, so a
// policy can be validated (or previewed against a described tailnet) before it is deployed.

import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';
import { BYPASS_ACTOR, BYPASS_FLAG, withDirectAccess, type DirectAccess } from '../direct.js';
import { CliError, ExitWithCode } from '../errors.js';
import { formatMachine } from '../output.js';

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`${flag}: cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

interface PolicyResponse {
  policy: string;
  updatedAt: string | null;
}

export function registerPolicy(program: Command, ctx: CliContext): void {
  const direct = <T>(cmd: Command, fn: (d: DirectAccess) => Promise<T>) =>
    withDirectAccess({ configPath: ctx.globals(cmd).config, env: ctx.io.env, warn: (m) => ctx.io.stderr(`${m}\n`) }, fn);

  const policy = program.command('policy').description('Manage the ACL policy of Switchboard');

  policy
    .command('get')
    .aliases(['show', 'view', 'fetch'])
    .description('Print the current ACL policy (HuJSON as stored, whatever -o says, as headscale does)')
    .option(BYPASS_FLAG, 'Read the policy from the configured database (or policy file) directly; no running server needed')
    .action(async (opts: { bypassGrpcAndAccessDatabaseDirectly?: boolean }, cmd: Command) => {
      let res: PolicyResponse;
      if (opts.bypassGrpcAndAccessDatabaseDirectly) {
        res = await direct(cmd, async ({ policy: p }) => {
          const doc = await p.get();
          return { policy: doc.policy, updatedAt: doc.updatedAt ? doc.updatedAt.toISOString() : null };
        });
      } else {
        const client = await ctx.client(cmd);
        res = await client.request<PolicyResponse>('GET', '/api/v1/policy');
      }
      // headscale prints the HuJSON for every -o: it is JSON already, and scripts pipe it on.
      ctx.io.stdout(`${res.policy}\n`);
    });

  policy
    .command('set')
    .aliases(['put', 'update'])
    .description('Replace the ACL policy with the contents of a file (works when the policy lives in the database)')
    .addOption(new Option('-f, --file <path>', 'Path to a policy file in HuJSON format').makeOptionMandatory())
    .option(
      BYPASS_FLAG,
      'Write the policy into the configured database directly; no running server needed (a running server picks it up on restart)',
    )
    .action(async (opts: { file: string; bypassGrpcAndAccessDatabaseDirectly?: boolean }, cmd: Command) => {
      const text = await readText(opts.file, '--file');
      if (opts.bypassGrpcAndAccessDatabaseDirectly) {
        await direct(cmd, async ({ policy: p, store }) => {
          await p.set(text);
          await store.appendAudit({ actor: BYPASS_ACTOR, action: 'SetPolicy', target: 'policy set --bypass', detail: {} });
        });
      } else {
        const client = await ctx.client(cmd);
        await client.request('PUT', '/api/v1/policy', { body: { policy: text } });
      }
      ctx.io.stdout('Policy updated.\n'); // headscale's line, for every -o
    });

  policy
    .command('check')
    .description('Check a policy file for errors (locally; the server is not contacted)')
    .addOption(new Option('-f, --file <path>', 'Path to a policy file in HuJSON format').makeOptionMandatory())
    .option(BYPASS_FLAG, "Accepted for headscale's scripts; the check is local either way")
    .action(async (opts: { file: string }, cmd: Command) => {
      const text = await readText(opts.file, '--file');
      const { checkPolicyText } = await import('../../acl/index.js');
      const result = checkPolicyText(text);
      if (!result.ok) {
        // One line per fault, each with where it sits in the file.
        const lines = result.issues.map((i) => (i.line ? `${opts.file}:${i.line}:${i.column}: ${i.message}` : i.message));
        throw new CliError(`policy is invalid:\n${lines.join('\n')}`);
      }
      ctx.io.stdout('Policy is valid\n'); // headscale's line, for every -o
    });

  policy
    .command('compile')
    .description(
      'Compile a policy against a tailnet described in a JSON file and print what each node would get\n' +
        '(packet filter, peers, SSH policy, capabilities). Runs locally.',
    )
    .addOption(new Option('--policy <path>', 'Path to a policy file in HuJSON format').makeOptionMandatory())
    .addOption(
      new Option('--tailnet <path>', 'Path to a JSON file with {"users": [...], "nodes": [...]}').makeOptionMandatory(),
    )
    .action(async (opts: { policy: string; tailnet: string }, cmd: Command) => {
      const policyText = await readText(opts.policy, '--policy');
      const tailnetText = await readText(opts.tailnet, '--tailnet');
      let tailnet: unknown;
      try {
        tailnet = JSON.parse(tailnetText);
      } catch (err) {
        throw new CliError(`--tailnet: ${opts.tailnet} is not valid JSON: ${(err as Error).message}`);
      }
      if (!tailnet || typeof tailnet !== 'object' || !Array.isArray((tailnet as { users?: unknown }).users) || !Array.isArray((tailnet as { nodes?: unknown }).nodes)) {
        throw new CliError(`--tailnet: ${opts.tailnet} must be a JSON object with "users" and "nodes" arrays`);
      }
      const { compileForPreview } = await import('../../acl/index.js');
      const result = compileForPreview(policyText, tailnet as Parameters<typeof compileForPreview>[1]);
      // The result is the output even when refused, so it goes to stdout in the chosen format.
      const format = ctx.globals(cmd).output ?? 'json';
      ctx.io.stdout(`${formatMachine(result, format)}\n`);
      if ('error' in result) throw new ExitWithCode(1);
    });
}
