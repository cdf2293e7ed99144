// Run by test/e2e/oidc.test.ts inside a tailnet's network namespace, where the server is:
// oidc-provider on 127.0.0.1:<port>, accounts from argv. Prints "idp: ready <issuer>".
//   node oidc-idp.js <port> <redirect uri> <accounts JSON>

import { startProvider, type Account } from '../helpers/oidc.js';

const [port, redirectUri, accounts] = process.argv.slice(2);
const idp = await startProvider(redirectUri!, JSON.parse(accounts!) as Record<string, Account>, [], Number(port));
process.stdout.write(`idp: ready ${idp.issuer}\n`);
process.on('SIGTERM', () => void idp.close().then(() => process.exit(0)));
