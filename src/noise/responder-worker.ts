// The handshake worker's thread: answers batches of initiations (responder-pool.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { answerControlInitiation } from './control-answer.js';
import { isNoiseError } from './errors.js';
import { prepareStaticKey } from './keys.js';
import type { ResponderJob, ResponderReply } from './responder-pool.js';

const port = parentPort;
if (port === null) throw new Error('responder-worker.js runs as a worker thread only');
const serverKey = prepareStaticKey(new Uint8Array((workerData as { serverPrivateKey: Uint8Array }).serverPrivateKey));

port.on('message', (jobs: ResponderJob[]) => {
  const replies: ResponderReply[] = jobs.map((j) => {
    try {
      return { id: j.id, ok: true, answer: answerControlInitiation(serverKey, j.initiation, j.earlyPayload) };
    } catch (err) {
      return { id: j.id, ok: false, noise: isNoiseError(err), code: isNoiseError(err) ? err.code : undefined, message: (err as Error).message };
    }
  });
  port.postMessage(replies);
});
