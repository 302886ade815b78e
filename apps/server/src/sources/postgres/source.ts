import { backoffDelay } from '@cast/protocol';
import pg from 'pg';
import type { ChangeSink, ChangeSource, Watch } from '../types.js';
import { installWatch, listWatched } from './install.js';
import { type ChangePayload, parseChangePayload } from './payload.js';
import { notifyChannel, purgeOverflowSql, quoteIdent, readOverflowSql, type TableName } from './sql.js';

/** Options of {@link createPostgresSource}. */
export interface PostgresSourceOptions {
  /** `postgres://…` */
  url: string;
  /** The column holding each row's tenant. */
  tenantColumn: string;
  /** Tables to install the trigger on at start (idempotent). */
  watchTables: readonly string[];
  /** Delay before reconnect attempt n. @defaultValue 250 ms doubling up to 5 s, equal jitter */
  backoff?: (attempt: number) => number;
  /** How often the connection is checked and old oversized changes are purged, ms. @defaultValue 15_000 */
  maintenanceMs?: number;
  /** Where problems are logged. @defaultValue console.error */
  log?: (message: string, err?: unknown) => void;
}

interface Watched extends Watch {
  table: TableName;
  channel: string;
}

function splitCollection(collection: string): TableName {
  const dot = collection.indexOf('.');
  return { schema: collection.slice(0, dot), table: collection.slice(dot + 1) };
}

/**
 * The PostgreSQL change source: one connection that `LISTEN`s on the
 * per-tenant channels of watched tables that have subscribers, reads
 * oversized changes from the overflow table, and reconnects with backoff
 * when the connection is lost (reporting the watches inactive meanwhile).
 *
 * @example
 * ```ts
 * const source = createPostgresSource({ url: process.env.CAST_DATABASE_URL, tenantColumn: 'tenant_id', watchTables: ['todos'] })
 * await source.start(sink)
 * source.watch('acme', 'public.todos')
 * ```
 */
export function createPostgresSource(options: PostgresSourceOptions): ChangeSource {
  const log =
    options.log ??
    ((message: string, err?: unknown) => console.error(`cast: ${message}`, ...(err === undefined ? [] : [err])));
  const backoff = options.backoff ?? ((n: number) => backoffDelay(n, { floorMs: 250, capMs: 5000, jitter: 'equal' }));
  const maintenanceMs = options.maintenanceMs ?? 15_000;
  /** Desired watches by NOTIFY channel (kept across reconnects). */
  const watches = new Map<string, Watched>();
  let sink: ChangeSink | undefined;
  let client: pg.Client | undefined;
  let connected = false;
  let closed = false;
  let attempts = 0;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let maintenanceTimer: ReturnType<typeof setInterval> | undefined;
  let collections: string[] = [];
  let refreshing: Promise<void> | undefined;
  let queue: Promise<void> = Promise.resolve();

  const url = new URL(options.url);
  const clientConfig: pg.ClientConfig = { connectionString: options.url, keepAlive: true };
  if (!url.searchParams.has('application_name')) clientConfig.application_name = 'cast-server';

  const gap = (w: Watched) => {
    sink?.inactive([w]);
    sink?.active([w], true);
  };

  async function readOverflow(db: pg.Client, w: Watched, id: string): Promise<ChangePayload | undefined> {
    const { rows } = await db.query<{ payload: string }>(readOverflowSql(w.table.schema), [id]);
    return rows[0] ? parseChangePayload(rows[0].payload) : undefined;
  }

  async function handle(db: pg.Client, msg: pg.Notification): Promise<void> {
    const w = watches.get(msg.channel);
    if (!w || !sink) return;
    let change = parseChangePayload(msg.payload ?? '');
    if (change?.overflow) {
      try {
        change = await readOverflow(db, w, change.id);
      } catch (err) {
        log(`could not read an oversized change of ${w.collection}`, err);
        return gap(w);
      }
      if (!change) {
        log(`an oversized change of ${w.collection} was no longer in the overflow table`);
        return gap(w);
      }
    }
    if (!change) {
      log(`ignored a notification on ${msg.channel} that is not a Cast change`);
      return;
    }
    // The channel says whose change this is; the payload must agree (never deliver across tenants).
    if (change.tenant !== w.tenant || change.schema !== w.table.schema || change.table !== w.table.table) {
      log(`ignored a change on ${msg.channel} whose table or tenant does not match the channel`);
      return;
    }
    await sink.change({
      tenant: w.tenant,
      collection: w.collection,
      type: change.type,
      documentId: change.documentId,
      document: change.document ?? null,
      ...(change.documentJson === undefined ? {} : { documentJson: change.documentJson }),
      changeId: change.id,
    });
  }

  function lost(db: pg.Client, err?: unknown): void {
    if (db !== client) return;
    client = undefined;
    connected = false;
    db.removeAllListeners('notification');
    db.end().catch(() => {});
    if (closed) return;
    log(`lost the database connection; reconnecting${err ? '' : ' (it ended)'}`, err);
    sink?.inactive([...watches.values()]);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    const delay = backoff(attempts++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect(true).catch((err) => {
        log('could not reconnect to the database', err instanceof Error ? err.message : err);
        scheduleReconnect();
      });
    }, delay);
    reconnectTimer.unref?.();
  }

  async function connect(reconnecting: boolean): Promise<pg.Client> {
    const db = new pg.Client(clientConfig);
    db.on('error', (err) => lost(db, err));
    db.on('end', () => lost(db));
    db.on('notification', (msg) => {
      queue = queue.then(() => handle(db, msg)).catch((err) => log('failed to handle a change', err));
    });
    try {
      await db.connect();
    } catch (err) {
      db.removeAllListeners('end');
      db.removeAllListeners('error');
      db.on('error', () => {});
      await db.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await db.end().catch(() => {});
      return db;
    }
    client = db;
    // From here watch() sends its own LISTEN, queued on this connection after the one below.
    connected = true;
    const listening = [...watches.values()];
    try {
      if (listening.length > 0) await db.query(listening.map((w) => `LISTEN ${quoteIdent(w.channel)};`).join('\n'));
    } catch (err) {
      lost(db, err);
      throw err;
    }
    attempts = 0;
    if (reconnecting) log('reconnected to the database');
    const still = listening.filter((w) => watches.get(w.channel) === w);
    if (still.length > 0) sink?.active(still, reconnecting);
    return db;
  }

  /** Lists the watched tables again; concurrent callers share one query. */
  function refresh(): Promise<void> {
    const db = client;
    if (!db || !connected) return Promise.resolve();
    refreshing ??= listWatched(db)
      .then((tables) => {
        collections = tables.map((t) => `${t.schema}.${t.table}`);
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  }

  function maintain(): void {
    const db = client;
    if (!db || !connected) return;
    // Also notices a connection that died silently.
    const schemas = new Set(collections.map((c) => splitCollection(c).schema));
    const work = schemas.size === 0 ? [db.query('SELECT 1')] : [...schemas].map((s) => db.query(purgeOverflowSql(s)));
    Promise.all(work).catch((err) => {
      if (db === client) log('database maintenance failed', err instanceof Error ? err.message : err);
    });
  }

  return {
    kind: 'postgres',
    async start(s) {
      sink = s;
      let db: pg.Client;
      try {
        db = await connect(false);
      } catch (err) {
        throw new Error(`cannot reach the database at CAST_DATABASE_URL (${(err as Error).message})`);
      }
      if (options.watchTables.length > 0) {
        try {
          await installWatch(db, options.watchTables, options.tenantColumn);
        } catch (err) {
          await this.close();
          throw new Error(`cannot install the change-feed triggers of CAST_WATCH_TABLES: ${(err as Error).message}`);
        }
      }
      await refresh();
      maintenanceTimer = setInterval(maintain, maintenanceMs);
      maintenanceTimer.unref?.();
    },
    async collections(fresh) {
      // A miss asks the database again: the table may have been installed by hand since.
      if (fresh) await refresh().catch((err) => log('could not list watched tables', err));
      return collections;
    },
    watch(tenant, collection) {
      const table = splitCollection(collection);
      const channel = notifyChannel(table, tenant);
      const w: Watched = { tenant, collection, table, channel };
      watches.set(channel, w);
      const db = client;
      if (!db || !connected) return;
      db.query(`LISTEN ${quoteIdent(channel)}`).then(
        () => {
          if (watches.get(channel) === w && db === client) sink?.active([w], false);
        },
        (err) => lost(db, err),
      );
    },
    unwatch(tenant, collection) {
      const channel = notifyChannel(splitCollection(collection), tenant);
      watches.delete(channel);
      const db = client;
      if (!db || !connected) return;
      db.query(`UNLISTEN ${quoteIdent(channel)}`).catch((err) => lost(db, err));
    },
    ready() {
      return connected;
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (maintenanceTimer) clearInterval(maintenanceTimer);
      const db = client;
      client = undefined;
      connected = false;
      if (db) {
        db.removeAllListeners('end');
        await db.end().catch(() => {});
      }
    },
  };
}
