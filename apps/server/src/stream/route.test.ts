import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, ReplayResult } from '../broker/types.js';
import type { ServerDeps } from '../context.js';
import { createInProcessServer, type InProcessServer } from '../test-support.js';

const KEY = 'sk_test_0123456789abcdef';

interface Setup {
  deps: ServerDeps;
  app: InProcessServer['app'];
  publish: (data: number) => Promise<string>;
  token: string;
}

const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server in-process whose broker's replay can be held open while events are published. */
async function setup(wrap: (memory: Broker) => Broker): Promise<Setup> {
  const server = await createInProcessServer({ CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32) }, { wrapBroker: wrap });
  servers.push(server);
  const { deps, app } = server;
  const { broker } = deps;
  const { token } = await deps.tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
  const publish = async (data: number) => {
    const [out] = await broker.publish('acme', [{ channel: 'orders', event: 'n', data: String(data) }]);
    return `${out?.event.position}/orders`;
  };
  return { deps, app, publish, token };
}

/** Reads SSE messages (the server's simple framing: LF lines, blank-line separated) until `count` arrived. */
async function read(res: Response, count: number): Promise<Array<{ id: string | undefined; event: string | undefined; data: string }>> {
  const got: Array<{ id: string | undefined; event: string | undefined; data: string }> = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (let i = 0; i < 100 && got.length < count; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const fields = new Map(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)] as const));
      if (fields.has('data')) got.push({ id: fields.get('id'), event: fields.get('event'), data: fields.get('data') as string });
    }
  }
  await reader.cancel();
  return got;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

describe('the replay-to-live hand-off', () => {
  it('sends events published while the replay is read exactly once, when the replay already holds them', async () => {
    const g = gate();
    let started!: () => void;
    const replaying = new Promise<void>((r) => {
      started = r;
    });
    const s = await setup((memory) => ({
      ...memory,
      async replay(tenant, channels, after): Promise<ReplayResult> {
        started();
        await g.wait; // events are published meanwhile; the replay below then includes them
        return memory.replay(tenant, channels, after);
      },
    }));
    const from = await s.publish(0);
    await s.publish(1);
    const pending = s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    await replaying;
    await s.publish(2);
    await s.publish(3);
    g.open();
    const res = await pending;
    await s.publish(4);
    const events = await read(res, 5);
    expect(events[0]).toMatchObject({ event: 'connected', data: '{"channels":["orders"],"recovered":true}' });
    expect(events.slice(1).map((e) => Number(e.data))).toEqual([1, 2, 3, 4]);
  });

  it('sends events published while the replay is read after it, when the replay does not hold them', async () => {
    const g = gate();
    let started!: () => void;
    const replaying = new Promise<void>((r) => {
      started = r;
    });
    const s = await setup((memory) => ({
      ...memory,
      async replay(tenant, channels, after): Promise<ReplayResult> {
        const snapshot = await memory.replay(tenant, channels, after);
        started();
        await g.wait; // events published now are only in the live path
        return snapshot;
      },
    }));
    const from = await s.publish(0);
    await s.publish(1);
    const pending = s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    await replaying;
    await s.publish(2);
    await s.publish(3);
    g.open();
    const res = await pending;
    await s.publish(4);
    const events = await read(res, 5);
    expect(events.map((e) => e.event ?? 'message')).toEqual(['connected', 'n', 'n', 'n', 'n']);
    expect(events.slice(1).map((e) => Number(e.data))).toEqual([1, 2, 3, 4]);
  });

  it('goes live and says recovered: false when the replay fails', async () => {
    const s = await setup((memory) => ({
      ...memory,
      async replay(): Promise<ReplayResult> {
        throw new Error('log unreachable');
      },
    }));
    const from = await s.publish(0);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    try {
      const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
      await s.publish(1);
      const events = await read(res, 2);
      expect(events[0]?.data).toBe('{"channels":["orders"],"recovered":false}');
      expect(events[1]?.data).toBe('1');
    } finally {
      console.error = original;
    }
    expect(errors).toHaveLength(1);
  });
});
