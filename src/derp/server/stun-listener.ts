// The UDP side of STUN (derp.server.stun_listen_addr). Datagrams that are not binding
// requests are counted and ignored: answering garbage would make the port a reflector.

import dgram from 'node:dgram';
import { parseListenAddr } from '../../util/listen.js';
import { StunError, bindingResponse, parseBindingRequest } from './stun.js';

export interface StunListener {
  /** host:port actually bound (the port is the kernel's choice when configured as 0). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function listenStun(addr: string, onResult: (r: 'ok' | 'invalid', why?: string) => void): Promise<StunListener> {
  const { host, port } = parseListenAddr(addr, 'derp.server.stun_listen_addr');
  const v6 = host.includes(':');
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
  sock.on('message', (msg, rinfo) => {
    let txid: Buffer;
    try {
      txid = parseBindingRequest(msg);
    } catch (e) {
      onResult('invalid', e instanceof StunError ? e.message : String(e));
      return;
    }
    sock.send(bindingResponse(txid, rinfo.address, rinfo.port), rinfo.port, rinfo.address);
    onResult('ok');
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (err) => {
      sock.close();
      reject(new Error(`derp.server.stun_listen_addr: cannot listen on udp ${addr}: ${err.message}`));
    });
    sock.bind(port, host, () => {
      sock.removeAllListeners('error');
      resolve();
    });
  });
  // After binding, a send error (e.g. an unreachable sender) must not end the listener.
  sock.on('error', () => {});
  const a = sock.address();
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    port: a.port,
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
