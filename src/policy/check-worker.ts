// Worker thread entry: parses and compiles a policy against a snapshot of the tailnet and
// answers whether it is refused. Runs off the server's event loop, so checking even the
// largest policy a client may submit never stalls other requests.

import { parentPort } from 'node:worker_threads';
import { compilePolicy, parsePolicy, PolicyError } from '../acl/index.js';
import type { CheckJob, CheckAnswer } from './offthread.js';

parentPort?.on('message', (job: CheckJob) => {
  let answer: CheckAnswer;
  try {
    const policy = job.text.trim() ? parsePolicy(job.text) : null;
    compilePolicy(policy, job.input, { baseURL: job.baseURL });
    // The parsed form is plain data: handing it back spares the server's thread the parse.
    answer = { id: job.id, ok: true, policy };
  } catch (err) {
    const e = err as Error;
    answer = err instanceof PolicyError ? { id: job.id, ok: false, policy: true, message: e.message, issues: err.issues } : { id: job.id, ok: false, policy: false, message: e.message };
  }
  parentPort!.postMessage(answer);
});
