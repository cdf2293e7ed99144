// Test helper: two NoiseConns joined by a real loopback TCP connection.
import { once } from 'node:events';
import net from 'node:net';
import { createInitiation, respondToInitiation } from '../../src/noise/control-handshake.js';
import { NoiseConn } from '../../src/noise/conn.js';
import { generateKeyPair } from '../../src/noise/keys.js';
import { INITIATION_LEN, RESPONSE_LEN } from '../../src/noise/messages.js';
import { readExact } from '../../src/noise/read-exact.js';

export interface NoisePair {
  client: NoiseConn;
  server: NoiseConn;
  clientSocket: net.Socket;
  serverSocket: net.Socket;
  close(): void;
}

export async function noisePair(): Promise<NoisePair> {
  const serverKey = generateKeyPair();
  const machineKey = generateKeyPair();
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const clientSocket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(clientSocket, 'connect');
  const [serverSocket] = await accepted;
  listener.close();

  // Plain controlbase-style handshake on the raw socket, no HTTP.
  const ci = createInitiation(machineKey.privateKey, serverKey.publicKey, 113);
  clientSocket.write(ci.initiationBytes);
  const init = await readExact(serverSocket, INITIATION_LEN, 'initiation');
  const r = respondToInitiation(serverKey.privateKey, init);
  serverSocket.write(r.responseBytes);
  const resp = await readExact(clientSocket, RESPONSE_LEN, 'response');
  const c = ci.complete(resp);

  const server = new NoiseConn(serverSocket, { send: r.send, recv: r.recv, protocolVersion: r.protocolVersion, peerPublicKey: r.clientMachineKey });
  const client = new NoiseConn(clientSocket, { send: c.send, recv: c.recv, protocolVersion: 113, peerPublicKey: serverKey.publicKey });
  return {
    client,
    server,
    clientSocket,
    serverSocket,
    close() {
      client.destroy();
      server.destroy();
    },
  };
}
