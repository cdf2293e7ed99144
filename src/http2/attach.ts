// Serves (or speaks, as a client) HTTP/2 on a message channel that can take and hand over
// plaintext directly (NoiseConn's setReceiver/writeRecords), so no Node stream sits in between.

import type { EventEmitter } from 'node:events';
import { H2ClientConnection, type H2ClientOptions } from './client.js';
import { H2ServerConnection, type H2ConnectionOptions } from './connection.js';

export interface PlaintextChannel extends EventEmitter {
  setReceiver(r: { data(b: Buffer): void; end(): void }): void;
  writeRecords(b: Buffer): boolean;
  buffered(): number;
  end(): void;
  destroy(err?: Error): void;
  /** Stop and restart reading input; 'outputDrained' is emitted once buffered output has gone out. */
  pauseInput?(): void;
  resumeInput?(): void;
}

export interface ServeHttp2Options extends H2ConnectionOptions {
  /** A peer that hasn't sent the HTTP/2 preface and SETTINGS within this long is dropped. */
  prefaceTimeoutMs?: number;
}

export function serveHttp2(channel: PlaintextChannel, opts: ServeHttp2Options): H2ServerConnection {
  const h2 = new H2ServerConnection(
    {
      write: (b) => channel.writeRecords(b),
      buffered: () => channel.buffered(),
      end: () => {
        channel.end();
        // A peer that never closes its side must not hold the socket forever.
        setTimeout(() => channel.destroy(), 10_000).unref();
      },
      destroy: (err) => channel.destroy(err),
      pauseInput: channel.pauseInput ? () => channel.pauseInput!() : undefined,
      resumeInput: channel.resumeInput ? () => channel.resumeInput!() : undefined,
    },
    opts,
  );
  channel.on('close', () => h2.transportClosed());
  channel.on('error', (err: Error) => h2.transportClosed(err));
  channel.on('outputDrained', () => h2.transportDrained());
  if (opts.prefaceTimeoutMs) {
    const t = setTimeout(() => {
      if (!h2.established && !h2.closed) h2.destroy(new Error(`no HTTP/2 preface within ${opts.prefaceTimeoutMs} ms`));
    }, opts.prefaceTimeoutMs);
    t.unref();
    h2.onClose(() => clearTimeout(t));
  }
  channel.setReceiver({
    data: (b) => h2.receive(b),
    // The client is done sending: nothing more can be asked, so finish.
    end: () => h2.close('client closed its side'),
  });
  return h2;
}

/** The client side: our HTTP/2 client on the channel, sending its preface at once. */
export function connectHttp2(channel: PlaintextChannel, opts: H2ClientOptions = {}): H2ClientConnection {
  const destroyLater = () => {
    // A server that never closes its side must not hold the socket forever.
    setTimeout(() => channel.destroy(), 10_000).unref();
  };
  const h2 = new H2ClientConnection(
    {
      write: (b) => channel.writeRecords(b),
      buffered: () => channel.buffered(),
      end: () => {
        channel.end();
        destroyLater();
      },
      destroy: (err) => channel.destroy(err),
    },
    opts,
  );
  channel.on('close', () => h2.transportClosed());
  channel.on('error', (err: Error) => h2.transportClosed(err));
  channel.setReceiver({
    data: (b) => h2.receive(b),
    // The server is done sending: no response can complete any more, so finish our side too.
    end: () => {
      h2.transportClosed();
      channel.end();
      destroyLater();
    },
  });
  return h2;
}
