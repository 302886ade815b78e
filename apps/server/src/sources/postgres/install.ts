import {
  dropFunctionSql,
  dropTriggerSql,
  functionSql,
  HAS_COLUMN_SQL,
  INSTALL_LOCK_SQL,
  parseTableName,
  PRIMARY_KEY_SQL,
  quoteIdent,
  RESOLVE_TABLE_SQL,
  type TableName,
  triggerSql,
  WATCHED_TABLES_SQL,
} from './sql.js';

/** The part of a `pg` client these helpers use. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[] }>;
}

/** A problem with a table to watch, reported as one line. */
export class WatchError extends Error {
  override name = 'WatchError';
}

/** Options of {@link installWatch} and {@link removeWatch}. */
export interface WatchOptions {
  /** Print instead of run: the statements are returned, nothing is changed. */
  dryRun?: boolean;
}

/** What an install or remove did. */
export interface WatchResult {
  tables: TableName[];
  /** The SQL statements, in the order they ran (or would run). */
  statements: string[];
}

async function resolveTable(db: Queryable, name: string): Promise<TableName & { oid: string }> {
  const parsed = parseTableName(name);
  if (!parsed) throw new WatchError(`"${name}" is not a table name: use table or schema.table (letters, digits, "_").`);
  const text = parsed.schema ? `${quoteIdent(parsed.schema)}.${quoteIdent(parsed.table)}` : quoteIdent(parsed.table);
  const { rows } = await db.query<{ schema: string; table: string; oid: string }>(RESOLVE_TABLE_SQL, [text]);
  const row = rows[0];
  if (!row) throw new WatchError(`Table "${name}" does not exist (or is not on the search_path).`);
  return { schema: row.schema, table: row.table, oid: String(row.oid) };
}

/**
 * Installs the change-feed trigger on tables, idempotently: the schema's
 * trigger function and overflow table, then one trigger per table. Runs in
 * one transaction under an advisory lock, so several nodes may start at once.
 *
 * @param db - a connected client
 * @param names - tables, `table` or `schema.table`
 * @param tenantColumn - the column holding each row's tenant
 * @param options - `dryRun` to only compute the SQL
 * @returns the resolved tables and the SQL
 * @throws WatchError when a table is missing, lacks the tenant column or a single-column primary key
 * @example
 * ```ts
 * await installWatch(client, ['todos'], 'tenant_id')
 * ```
 */
export async function installWatch(
  db: Queryable,
  names: readonly string[],
  tenantColumn: string,
  options: WatchOptions = {},
): Promise<WatchResult> {
  const tables: Array<TableName & { key: string }> = [];
  for (const name of names) {
    const t = await resolveTable(db, name);
    const hasTenant = await db.query(HAS_COLUMN_SQL, [t.oid, tenantColumn]);
    if (hasTenant.rows.length === 0) {
      throw new WatchError(
        `Table ${t.schema}.${t.table} has no "${tenantColumn}" column (set CAST_TENANT_COLUMN to the column that holds the tenant).`,
      );
    }
    const pk = await db.query<{ name: string }>(PRIMARY_KEY_SQL, [t.oid]);
    if (pk.rows.length !== 1) {
      throw new WatchError(
        `Table ${t.schema}.${t.table} needs a single-column primary key (it becomes each change's documentId).`,
      );
    }
    if (!tables.some((x) => x.schema === t.schema && x.table === t.table)) {
      tables.push({ schema: t.schema, table: t.table, key: (pk.rows[0] as { name: string }).name });
    }
  }
  const statements = [INSTALL_LOCK_SQL];
  for (const schema of new Set(tables.map((t) => t.schema))) statements.push(functionSql(schema));
  for (const t of tables) statements.push(triggerSql(t, tenantColumn, t.key));
  if (!options.dryRun) await inTransaction(db, statements);
  return { tables: tables.map(({ schema, table }) => ({ schema, table })), statements };
}

/**
 * Removes the change-feed trigger from tables, and a schema's function and
 * overflow table once none of its tables carries the trigger.
 *
 * @param db - a connected client
 * @param names - tables, `table` or `schema.table`
 * @param options - `dryRun` to only compute the SQL
 * @returns the resolved tables and the SQL
 * @example
 * ```ts
 * await removeWatch(client, ['todos'])
 * ```
 */
export async function removeWatch(
  db: Queryable,
  names: readonly string[],
  options: WatchOptions = {},
): Promise<WatchResult> {
  const tables: TableName[] = [];
  for (const name of names) {
    const t = await resolveTable(db, name);
    if (!tables.some((x) => x.schema === t.schema && x.table === t.table))
      tables.push({ schema: t.schema, table: t.table });
  }
  const removing = new Set(tables.map((t) => `${t.schema}.${t.table}`));
  const still = (await listWatched(db)).filter((t) => !removing.has(`${t.schema}.${t.table}`));
  const statements = [INSTALL_LOCK_SQL, ...tables.map(dropTriggerSql)];
  for (const schema of new Set(tables.map((t) => t.schema))) {
    if (!still.some((t) => t.schema === schema)) statements.push(dropFunctionSql(schema));
  }
  if (!options.dryRun) await inTransaction(db, statements);
  return { tables, statements };
}

/**
 * Lists the tables that carry the change-feed trigger.
 *
 * @param db - a connected client
 * @returns the tables, sorted
 * @example
 * ```ts
 * const tables = await listWatched(client) // [{ schema: 'public', table: 'todos' }]
 * ```
 */
export async function listWatched(db: Queryable): Promise<TableName[]> {
  const { rows } = await db.query<{ schema: string; table: string }>(WATCHED_TABLES_SQL);
  return rows.map((r) => ({ schema: r.schema, table: r.table }));
}

async function inTransaction(db: Queryable, statements: string[]): Promise<void> {
  await db.query('BEGIN');
  try {
    for (const sql of statements) await db.query(sql);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
