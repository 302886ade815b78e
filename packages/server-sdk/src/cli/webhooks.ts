/**
 * `cast webhooks listen`: a local webhook receiver for development. It
 * verifies every delivery with the SDK's own handler and prints its events.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isCastError, type WebhookEvent } from '@cast/protocol';
import { createWebhookHandler } from '../webhook-handler.js';
import { type Command, UsageError } from './command.js';

/** The variable the server reads its webhook secret from, read here too. */
const SECRET_ENV = 'CAST_WEBHOOK_SECRET';
/** A delivery holds at most 100 small events; anything far larger is not one. */
const MAX_BODY_BYTES = 1024 * 1024;

function describeEvent(event: WebhookEvent): string {
  const user = event.userId === undefined ? '' : ` user ${event.userId}`;
  return `${event.at} ${event.type} ${event.channel}${user} (${event.id})`;
}

/** The body, or undefined past the limit (read to its end but not kept, so the 413 reaches the sender). */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

/** Bridges one Node request to the fetch-style handler. */
async function serve(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readBody(req);
  if (body === undefined) {
    res.writeHead(413, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'A webhook delivery is at most 1 MiB.' } }));
    return;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
  }
  const method = req.method ?? 'GET';
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method,
    headers,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
  });
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

export const webhooksCommand: Command = {
  name: 'webhooks',
  help: `Usage: cast webhooks listen [--port <port>] [--host <host>] [--secret <secret>] [--tolerance <seconds>] [--json]

Run a local webhook receiver: it answers every POST (any path), checks its
Cast-Signature with the secret, prints the events of verified deliveries
and answers 401 to the others. Point the server at it with
CAST_WEBHOOKS=<tenant>=http://127.0.0.1:<port>/ and the same secret. Ctrl-C stops.

Options:
  --port <port>          port to listen on, 0 for any free one (default: 8787)
  --host <host>          address to bind (default: 127.0.0.1)
  --secret <secret>      the webhook secret (default: $${SECRET_ENV})
  --tolerance <seconds>  refuse deliveries signed longer ago than this (default: 300)
  --json                 print each event as one JSON object per line

Example:
  CAST_WEBHOOK_SECRET=… cast webhooks listen --port 8787`,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    secret: { type: 'string' },
    tolerance: { type: 'string' },
  },
  async run({ args, values, json, io }) {
    const [sub, ...extra] = args;
    if (sub !== 'listen')
      throw new UsageError(
        sub === undefined ? 'webhooks needs a subcommand: listen' : `unknown webhooks subcommand "${sub}"`,
      );
    if (extra.length > 0) throw new UsageError(`webhooks listen takes no arguments (got "${extra.join(' ')}")`);
    const secret = (values.secret as string | undefined) ?? io.env[SECRET_ENV];
    if (!secret) throw new UsageError(`no webhook secret: pass --secret or set ${SECRET_ENV}`);
    const portText = (values.port as string | undefined) ?? '8787';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535)
      throw new UsageError(`--port must be a port number, not "${portText}"`);
    const toleranceText = values.tolerance as string | undefined;
    if (toleranceText !== undefined && !/^[1-9]\d*$/.test(toleranceText)) {
      throw new UsageError(`--tolerance must be a whole number of seconds, not "${toleranceText}"`);
    }
    const host = (values.host as string | undefined) ?? '127.0.0.1';

    const handler = createWebhookHandler({
      secret,
      ...(toleranceText === undefined ? {} : { toleranceSeconds: Number(toleranceText) }),
      onEvents: (events) => {
        for (const event of events) io.stdout(json ? JSON.stringify(event) : describeEvent(event));
      },
    });
    const server = createServer((req, res) => {
      serve(
        async (request) => {
          const response = await handler(request);
          if (response.status >= 400) {
            const answer = (await response
              .clone()
              .json()
              .catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
            io.stderr(
              `cast: refused a delivery: ${answer?.error?.message ?? response.statusText} (${answer?.error?.code ?? response.status})`,
            );
          }
          return response;
        },
        req,
        res,
      ).catch((error: unknown) => {
        io.stderr(`cast: ${isCastError(error) || error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });

    const signal = io.signal ?? new AbortController().signal;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(portText), host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    io.stderr(`cast: receiving webhooks on http://${host.includes(':') ? `[${host}]` : host}:${port}/ (Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return 0;
  },
};
