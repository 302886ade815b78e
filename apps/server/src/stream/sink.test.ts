import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeSink, releaseSentText } from './sink.js';

/** A server whose one request is handed to `use` as a sink over its response, headers sent. */
async function serve(use: (sink: NodeSink, res: http.ServerResponse) => void): Promise<{ port: number }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.flushHeaders();
    use(new NodeSink(res), res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port };
}

const servers: http.Server[] = [];
const clients: net.Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** The raw bytes a request gets back, until the server closes the connection or `until` is in them. */
function rawExchange(port: number, request: string, until?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (until !== undefined && got.includes(until)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

const frame = (n: number, bytes = 10) => Buffer.from(`data: ${String(n).padEnd(bytes, 'x')}\n\n`);

describe('NodeSink', () => {
  it('frames each write as one HTTP/1.1 chunk that a client reads back byte for byte, and ends with the last chunk', async () => {
    const shared = frame(1);
    const large = frame(3, 40_000);
    const { port } = await serve((sink) => {
      sink.write(shared);
      sink.write(shared); // the same bytes again (the framed copy is reused)
      sink.write(frame(2));
      sink.write(large); // above the copy limit: written as three corked pieces
      sink.write(frame(4));
      sink.end();
    });
    const body = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
          expect(res.headers['transfer-encoding']).toBe('chunked');
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(body.toString()).toBe(Buffer.concat([shared, shared, frame(2), large, frame(4)]).toString());
    // And on the wire: size lines in hex, then the terminating zero-length chunk.
    const raw = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = raw.indexOf('\r\n\r\n') + 4;
    expect(raw.slice(head)).toBe(
      [shared, shared, frame(2), large, frame(4)]
        .map((f) => `${f.byteLength.toString(16)}\r\n${f.toString('latin1')}\r\n`)
        .join('') + '0\r\n\r\n',
    );
  });

  it('keeps neither the request query nor the sent head text once released, and still streams and ends', async () => {
    const seen: { url?: string; headersSent?: boolean; head?: unknown } = {};
    const { port } = await serve((sink, res) => {
      releaseSentText(res);
      seen.url = res.req.url;
      seen.headersSent = res.headersSent;
      seen.head = (res as unknown as { _header: unknown })._header;
      sink.write(frame(1));
      sink.end();
    });
    const raw = await rawExchange(
      port,
      'GET /push/stream?token=secret.jwt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(seen.url).toBe('/push/stream');
    expect(seen.headersSent).toBe(true);
    expect(String(seen.head)).not.toContain('HTTP/1.1');
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.endsWith(`${frame(1).byteLength.toString(16)}\r\n${frame(1).toString('latin1')}\r\n0\r\n\r\n`)).toBe(
      true,
    );
  });

  it('leaves a response whose head is not sent as it is', async () => {
    const server = http.createServer((req, res) => {
      releaseSentText(res);
      res.end(String(req.url));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const raw = await rawExchange(port, 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.endsWith('/a?b=c')).toBe(true);
  });

  it('writes the bytes unframed to an HTTP/1.0 client, whose response ends with the connection', async () => {
    const { port } = await serve((sink) => {
      sink.write(frame(1));
      sink.write(frame(2));
      sink.end();
    });
    const raw = await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 200')).toBe(true);
    expect(raw).not.toMatch(/transfer-encoding/i);
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe(`${frame(1).toString()}${frame(2).toString()}`);
  });

  it('tells its listener once when the peer goes away, and writes nothing after', async () => {
    let sink: NodeSink | undefined;
    const closed = new Promise<void>((resolve) => {
      void serve((s) => {
        sink = s;
        s.onClose({ sinkClosed: resolve });
        s.write(frame(0));
      }).then(({ port }) => rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'data: 0'));
    });
    await closed;
    expect(() => sink?.write(frame(1))).not.toThrow();
    expect(sink?.pending).toBe(0);
  });

  it('counts what the socket has not sent as pending and calls back once the peer has taken it', async () => {
    const seen: { before?: number; after50ms?: number; drained?: Promise<number> } = {};
    const client = new Promise<net.Socket>((resolve) => {
      void serve((sink) => {
        // The peer reads nothing yet: write until well past the socket's buffers.
        const big = Buffer.alloc(64 * 1024, 0x61);
        for (let i = 0; i < 200 && sink.pending < 4 * 1024 * 1024; i++) sink.write(big);
        seen.before = sink.pending;
        seen.drained = new Promise<number>((done) => sink.whenDrained(1024, () => done(sink.pending)));
        setTimeout(() => {
          seen.after50ms = sink.pending;
          resolve(socket);
        }, 50);
      }).then(({ port }) => {
        socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.pause();
        clients.push(socket);
      });
      let socket: net.Socket;
    });
    const socket = await client;
    expect(seen.before).toBeGreaterThan(1024 * 1024);
    // Not taken while the peer reads nothing.
    expect(seen.after50ms).toBeGreaterThan(1024 * 1024);
    socket.on('data', () => {});
    socket.resume();
    expect(await seen.drained).toBeLessThanOrEqual(1024);
  });
});
