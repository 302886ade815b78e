import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeRequest, requestHeader } from './node-request.js';

/** Answers with what the helpers see of the request. */
const app = new Hono().get('/', (c) =>
  c.json({
    node: nodeRequest(c) !== undefined,
    auth: requestHeader(c, 'authorization') ?? null,
    type: requestHeader(c, 'content-type') ?? null,
    origin: requestHeader(c, 'origin') ?? null,
    missing: requestHeader(c, 'x-missing') ?? null,
  }),
);

/** Sends one raw HTTP/1.1 request (header lines as given, repeats included) and returns the JSON answer. */
function rawGet(port: number, lines: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))));
    socket.write(['GET / HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', ...lines, '', ''].join('\r\n'));
  });
}

describe('requestHeader', () => {
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const lines = [
    'authorization: Bearer a',
    'AUTHORIZATION: Bearer b',
    'Content-Type: application/json',
    'content-type: text/plain',
    'Origin: https://x.example',
  ];

  it('reads the Node request, joining a repeated header like the Fetch Headers do', async () => {
    expect(await rawGet(port, lines)).toEqual({
      node: true,
      auth: 'Bearer a, Bearer b',
      type: 'application/json, text/plain',
      origin: 'https://x.example',
      missing: null,
    });
  });

  it('gives the same values from the web Request under app.request()', async () => {
    const headers = new Headers();
    for (const line of lines) {
      const i = line.indexOf(':');
      headers.append(line.slice(0, i), line.slice(i + 1).trim());
    }
    const res = await app.request('/', { headers });
    expect(await res.json()).toEqual({
      node: false,
      auth: 'Bearer a, Bearer b',
      type: 'application/json, text/plain',
      origin: 'https://x.example',
      missing: null,
    });
  });
});
