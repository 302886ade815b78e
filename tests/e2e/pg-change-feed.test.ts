import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_ENTRY, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawEvent, type RawStream } from './helpers/sse.js';

// The machine's PostgreSQL; each run works in its own schema and drops it after.
const DATABASE_URL = process.env.CAST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = promisify(execFile);

const schema = `cast_e2e_${randomBytes(6).toString('hex')}`;
const appName = `cast_e2e_${randomBytes(6).toString('hex')}`;
const key = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const tenants = { acme: key('sk_acme'), beta: key('sk_beta') };
const publicKeys = { acme: key('pk_acme'), beta: key('pk_beta') };

let db: pg.Client;
let server: TestServer;

beforeAll(async () => {
  db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  await db.query(`CREATE SCHEMA ${schema}`);
  for (const table of ['todos', 'notes', 'plain']) {
    await db.query(`CREATE TABLE ${schema}.${table} (id serial PRIMARY KEY, tenant_id text, title text, body text)`);
  }
  server = await startServer({
    tenants,
    env: {
      CAST_PUBLIC_KEYS: Object.entries(publicKeys)
        .map(([t, k]) => `${t}=${k}`)
        .join(','),
      // application_name lets the test find (and cut) the server's LISTEN connection.
      CAST_DATABASE_URL: `${DATABASE_URL}?application_name=${appName}`,
      CAST_WATCH_TABLES: `${schema}.todos`,
    },
  });
});

afterAll(async () => {
  await server?.stop();
  await db?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db?.end();
});

interface Change {
  type: string;
  documentId: string;
  document: Record<string, unknown> | null;
}

const subscribe = (tenant: 'acme' | 'beta', collection = 'todos', headers: Record<string, string> = {}) =>
  openRaw(`${server.url}/v1/events/subscribe?collection=${collection}&apikey=${publicKeys[tenant]}`, headers);

const changesOf = (events: RawEvent[]): Change[] =>
  events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as Change);

/** Waits for `n` changes after the `connected` event. */
async function changes(stream: RawStream, n: number): Promise<Change[]> {
  await stream.waitFor(n, { match: (e) => e.event === 'message' });
  return changesOf(stream.events);
}

describe('PostgreSQL change feeds', () => {
  it('delivers inserts, updates and deletes of two tenants to their own subscribers only', async () => {
    const acme = await subscribe('acme');
    const beta = await subscribe('beta');
    try {
      const [connected] = await acme.waitFor(1);
      expect(connected?.event).toBe('connected');
      await beta.waitFor(1);
      const a = await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'a1') RETURNING id`);
      const b = await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('beta', 'b1') RETURNING id`);
      const aId = String(a.rows[0].id);
      const bId = String(b.rows[0].id);
      await db.query(`UPDATE ${schema}.todos SET title = title || '!'`);
      await db.query(`DELETE FROM ${schema}.todos WHERE id = $1`, [bId]);
      await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES (NULL, 'nobody')`);
      await db.query(`DELETE FROM ${schema}.todos WHERE id = $1`, [aId]);

      const got = await changes(acme, 3);
      expect(got).toEqual([
        { type: 'insert', documentId: aId, document: { id: Number(aId), tenant_id: 'acme', title: 'a1', body: null } },
        { type: 'update', documentId: aId, document: { id: Number(aId), tenant_id: 'acme', title: 'a1!', body: null } },
        { type: 'delete', documentId: aId, document: { id: Number(aId), tenant_id: 'acme', title: 'a1!', body: null } },
      ]);
      const betaGot = await changes(beta, 3);
      expect(betaGot.map((c) => [c.type, c.documentId, c.document?.tenant_id])).toEqual([
        ['insert', bId, 'beta'],
        ['update', bId, 'beta'],
        ['delete', bId, 'beta'],
      ]);
      // Every change carries a resumable id in the tenant's log.
      expect(acme.events[1]?.id).toMatch(new RegExp(`^\\d+-\\d+/\\$db:${schema}\\.todos$`));
    } finally {
      acme.close();
      beta.close();
    }
  });

  it('scopes a delete by the old row and tells both tenants when a row moves between them', async () => {
    // acme subscribes before the row exists and sees its insert: a notification is delivered after
    // the INSERT returns, so a stream opened after it could still receive it.
    const acme = await subscribe('acme');
    const beta = await subscribe('beta');
    try {
      await acme.waitFor(1);
      await beta.waitFor(1);
      const { rows } = await db.query(
        `INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'moving') RETURNING id`,
      );
      const id = String(rows[0].id);
      await changes(acme, 1);
      await db.query(`UPDATE ${schema}.todos SET tenant_id = 'beta' WHERE id = $1`, [id]);
      await db.query(`DELETE FROM ${schema}.todos WHERE id = $1`, [id]);
      expect((await changes(acme, 2)).map((c) => [c.type, c.documentId, c.document?.tenant_id])).toEqual([
        ['insert', id, 'acme'],
        ['delete', id, 'acme'],
      ]);
      expect((await changes(beta, 2)).map((c) => [c.type, c.documentId, c.document?.tenant_id])).toEqual([
        ['insert', id, 'beta'],
        ['delete', id, 'beta'],
      ]);
      await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'marker')`);
      await changes(acme, 3);
      expect(changesOf(acme.events).map((c) => c.document?.title)).toEqual(['moving', 'moving', 'marker']);
    } finally {
      acme.close();
      beta.close();
    }
  });

  it('delivers rows over the 8000-byte NOTIFY limit whole, deletes included', async () => {
    const acme = await subscribe('acme');
    try {
      await acme.waitFor(1);
      const big = 'é'.repeat(12_000); // 24,000 bytes of UTF-8
      const near = 'x'.repeat(7_800);
      const { rows } = await db.query(
        `INSERT INTO ${schema}.todos (tenant_id, title, body) VALUES ('acme', 'big', $1) RETURNING id`,
        [big],
      );
      await db.query(`INSERT INTO ${schema}.todos (tenant_id, title, body) VALUES ('acme', 'near', $1)`, [near]);
      await db.query(`UPDATE ${schema}.todos SET body = body || 'ü' WHERE id = $1`, [rows[0].id]);
      await db.query(`DELETE FROM ${schema}.todos WHERE id = $1`, [rows[0].id]);
      const got = await changes(acme, 4);
      expect(got.map((c) => [c.type, c.document?.title])).toEqual([
        ['insert', 'big'],
        ['insert', 'near'],
        ['update', 'big'],
        ['delete', 'big'],
      ]);
      expect(got[0]?.document?.body).toBe(big);
      expect(got[1]?.document?.body).toBe(near);
      expect(got[2]?.document?.body).toBe(`${big}ü`);
      expect(got[3]?.document?.body).toBe(`${big}ü`);
    } finally {
      acme.close();
    }
  });

  it('resumes after Last-Event-ID with recovered: true while the server kept listening', async () => {
    const first = await subscribe('acme');
    await first.waitFor(1);
    await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'seen')`);
    await changes(first, 1);
    const lastId = first.events[first.events.length - 1]?.id as string;
    first.close();
    await first.ended;
    // Nobody is subscribed now; the server keeps listening for a short while, so this is not lost.
    await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'missed')`);
    const again = await subscribe('acme', 'todos', { 'last-event-id': lastId });
    try {
      const [connected] = await again.waitFor(1);
      const got = await changes(again, 1);
      expect(JSON.parse(connected?.data as string)).toEqual({ channels: [`$db:${schema}.todos`], recovered: true });
      expect(got.map((c) => c.document?.title)).toEqual(['missed']);
    } finally {
      again.close();
    }
  });

  it('reconnects when its database connection is cut, ends the streams, and the resume says recovered: false', async () => {
    const acme = await subscribe('acme');
    await acme.waitFor(1);
    await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'before')`);
    await changes(acme, 1);
    const lastId = acme.events[acme.events.length - 1]?.id as string;
    const cut = await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      appName,
    ]);
    expect(cut.rowCount).toBeGreaterThan(0);
    // Once it listens again the server ends the stream: changes in between were not seen.
    await acme.ended;
    const again = await subscribe('acme', 'todos', { 'last-event-id': lastId });
    try {
      const [connected] = await again.waitFor(1);
      expect(JSON.parse(connected?.data as string).recovered).toBe(false);
      await db.query(`INSERT INTO ${schema}.todos (tenant_id, title) VALUES ('acme', 'after')`);
      expect((await changes(again, 1)).map((c) => c.document?.title)).toEqual(['after']);
    } finally {
      again.close();
    }
  });

  it('answers 404 for a table that is not watched, and 401 without a key', async () => {
    const res = await subscribe('acme', 'plain');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text()).error.message).toContain('not a watched table');
    const none = await openRaw(`${server.url}/v1/events/subscribe?collection=todos`);
    expect(none.status).toBe(401);
  });

  it('installs and removes triggers by hand with the watch command, and the server picks them up', async () => {
    const env = { PATH: process.env.PATH ?? '', CAST_DATABASE_URL: DATABASE_URL };
    const printed = await run(process.execPath, [SERVER_ENTRY, 'watch', 'install', `${schema}.notes`, '--print'], {
      env,
    });
    expect(printed.stdout).toContain(
      `CREATE TRIGGER "cast_change_feed" AFTER INSERT OR UPDATE OR DELETE ON "${schema}"."notes"`,
    );
    const before = await db.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = '${schema}.notes'::regclass AND tgname = 'cast_change_feed'`,
    );
    expect(before.rows[0].n).toBe(0);

    await run(process.execPath, [SERVER_ENTRY, 'watch', 'install', `${schema}.notes`], { env });
    await run(process.execPath, [SERVER_ENTRY, 'watch', 'install', `${schema}.notes`], { env }); // idempotent
    const notes = await subscribe('acme', `${schema}.notes`);
    try {
      expect(notes.status).toBe(200);
      await notes.waitFor(1);
      await db.query(`INSERT INTO ${schema}.notes (tenant_id, title) VALUES ('acme', 'n1'), ('beta', 'n2')`);
      expect((await changes(notes, 1)).map((c) => c.document?.title)).toEqual(['n1']);
    } finally {
      notes.close();
    }

    const removed = await run(process.execPath, [SERVER_ENTRY, 'watch', 'remove', `${schema}.notes`], { env });
    expect(removed.stdout).toContain('No longer watching');
    const after = await db.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = '${schema}.notes'::regclass AND tgname = 'cast_change_feed'`,
    );
    expect(after.rows[0].n).toBe(0);
    // todos still carries the trigger, so the schema's function stays.
    const fn = await db.query(
      `SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'cast_notify_change'`,
      [schema],
    );
    expect(fn.rows[0].n).toBe(1);

    const missing = await run(process.execPath, [SERVER_ENTRY, 'watch', 'install', `${schema}.nope`], { env }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(missing).toMatchObject({ code: 1 });
    expect((missing as { stderr: string }).stderr).toContain('does not exist');
  });
  // Last: it adds a column to todos, which the documents of the tests above do not have.
  it('delivers numbers past 2^53 exactly as PostgreSQL wrote them, through NOTIFY and the overflow table', async () => {
    await db.query(`ALTER TABLE ${schema}.todos ADD COLUMN amount numeric`);
    const acme = await subscribe('acme');
    try {
      await acme.waitFor(1);
      await db.query(
        `INSERT INTO ${schema}.todos (tenant_id, title, amount) VALUES ('acme', 'exact', 9007199254740993)`,
      );
      await db.query(
        `INSERT INTO ${schema}.todos (tenant_id, title, body, amount) VALUES ('acme', 'exact-big', $1, 123456789012345678901234567890.5)`,
        ['x'.repeat(9000)],
      );
      const [small, big] = (await acme.waitFor(2, { match: (e) => e.event === 'message' })).map((e) => e.data);
      expect(small).toContain('"amount":9007199254740993');
      expect(big).toContain('"amount":123456789012345678901234567890.5');
      expect(small).not.toMatch(/\n/);
    } finally {
      acme.close();
    }
  });
});
