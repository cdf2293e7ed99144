// The handshake worker's thread: answers batches of initiations (responder-pool.ts).

import { workerData } from 'node:worker_threads';
import { serveBatches } from '../util/batch-worker.js';
import { prepareStaticKey } from './keys.js';
import { reply, type ResponderJob } from './responder-pool.js';

const serverKey = prepareStaticKey(new Uint8Array((workerData as { serverPrivateKey: Uint8Array }).serverPrivateKey));
serveBatches((j: ResponderJob) => reply(serverKey, j));
