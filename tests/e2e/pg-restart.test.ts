import { skipWhenMissing } from './helpers/skip.js';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

// A private PostgreSQL cluster in a temporary folder on its own port, so
// restarting it disturbs no other test. initdb refuses to run as root: as
// root the cluster belongs to the `postgres` system user.
const run = promisify(execFile);
const PG_ROOT = '/usr/lib/postgresql';
const binDir = existsSync(PG_ROOT)
  ? readdirSync(PG_ROOT)
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => join(PG_ROOT, v, 'bin'))
      .find((d) => existsSync(join(d, 'pg_ctl')))
  : undefined;
const asRoot = userInfo().uid === 0;

function pgUid(): { uid: number; gid: number } | undefined {
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Cluster {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function createCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cast-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const owner = asRoot ? pgUid() : undefined;
  if (asRoot && !owner) throw new Error('running as root without a postgres user: cannot run initdb');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const pgRun = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(binDir as string, tool), ...args])
      : run(join(binDir as string, tool), args);
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off`;
  const start = async () => {
    await pgRun('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
  };
  const stop = async () => {
    await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      await stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const key = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const tenants = { acme: key('sk_acme') };
const publicKey = key('pk_acme');

let cluster: Cluster | undefined;
let server: TestServer | undefined;

async function insert(title: string): Promise<void> {
  const db = new pg.Client({ connectionString: cluster?.url });
  await db.connect();
  try {
    await db.query("INSERT INTO todos (tenant_id, title) VALUES ('acme', $1)", [title]);
  } finally {
    await db.end();
  }
}

const titles = (s: RawStream) =>
  s.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data).document.title as string);

describe.skipIf(skipWhenMissing(!binDir))('a PostgreSQL restart under a change feed', () => {
  beforeAll(async () => {
    cluster = await createCluster();
    const db = new pg.Client({ connectionString: cluster.url });
    await db.connect();
    await db.query('CREATE TABLE todos (id serial PRIMARY KEY, tenant_id text NOT NULL, title text)');
    await db.end();
    server = await startServer({
      tenants,
      env: { CAST_PUBLIC_KEYS: `acme=${publicKey}`, CAST_DATABASE_URL: cluster.url, CAST_WATCH_TABLES: 'todos' },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await cluster?.destroy();
  });

  it('reconnects, listens again, ends the streams, and the resume says recovered: false', async () => {
    const url = `${(server as TestServer).url}/v1/events/subscribe?collection=todos&apikey=${publicKey}`;
    const first = await openRaw(url);
    await first.waitFor(1);
    await insert('before');
    await first.waitFor(1, { match: (e) => e.event === 'message' });
    const lastId = first.events[first.events.length - 1]?.id as string;

    await cluster?.stop();
    // A subscriber that arrives while the database is down is still answered (after a bounded wait).
    const during = await openRaw(url);
    expect(during.status).toBe(200);
    await cluster?.start();

    // The feed ends the streams once it listens again: changes in between were not seen.
    await Promise.all([first.ended, during.ended]);
    expect(titles(first)).toEqual(['before']);

    const resumed = await openRaw(url, { 'last-event-id': lastId });
    try {
      const [connected] = await resumed.waitFor(1);
      expect(JSON.parse(connected?.data as string)).toEqual({ channels: ['$db:public.todos'], recovered: false });
      await insert('after');
      await resumed.waitFor(1, { match: (e) => e.event === 'message' });
      expect(titles(resumed)).toEqual(['after']);
    } finally {
      resumed.close();
    }
    expect((server as TestServer).output()).toContain('reconnected to the database');
  });
});
