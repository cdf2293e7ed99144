// Run by test/e2e/oidc.test.ts inside a tailnet's network namespace: the fetch browser of
// test/helpers/oidc.ts opens an AuthURL and signs in at the provider as <account>; prints
// our server's last answer as JSON {status, body}.
//   node oidc-browser.js <auth url> <account>

import { signIn } from '../helpers/oidc.js';

const [url, account] = process.argv.slice(2);
const res = await signIn(url!, account!, new URL(url!).origin);
process.stdout.write(JSON.stringify({ status: res.status, body: await res.text() }) + '\n');
