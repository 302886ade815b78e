import { createHash } from 'node:crypto';

/** A table, schema-qualified. */
export interface TableName {
  schema: string;
  table: string;
}

/** The trigger every watched table carries; the server finds watched tables by this name. */
export const TRIGGER_NAME = 'cast_change_feed';
/** The trigger function, one per schema that holds a watched table. */
export const FUNCTION_NAME = 'cast_notify_change';
/** Oversized changes, one per schema; the notification then carries only a reference to a row here. */
export const OVERFLOW_TABLE = 'cast_change_overflow';
/**
 * NOTIFY refuses payloads of 8000 bytes or more (PostgreSQL's
 * `NOTIFY_PAYLOAD_MAX_LENGTH`, counted in the database encoding). The trigger
 * stores any change at or above this size in the overflow table instead.
 */
export const NOTIFY_PAYLOAD_LIMIT = 8000;
/** How long oversized changes stay in the overflow table, for every node to read them. */
export const OVERFLOW_RETENTION = '10 minutes';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Quotes an identifier for SQL (`"name"`, inner quotes doubled).
 *
 * @param name - a schema, table, column or function name
 * @returns the quoted identifier
 * @example
 * ```ts
 * quoteIdent('todos') // '"todos"'
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes a string literal for SQL (`'text'`, inner quotes doubled).
 *
 * @param value - the text
 * @returns the literal
 * @example
 * ```ts
 * quoteLiteral("it's") // "'it''s'"
 * ```
 */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Parses `table` or `schema.table` (plain identifiers only: letters, digits,
 * `_`). The schema is undefined when not given.
 *
 * @param value - the name as configured
 * @returns the parts, or undefined when the name is not plain
 * @example
 * ```ts
 * parseTableName('app.todos') // { schema: 'app', table: 'todos' }
 * parseTableName('todos') // { schema: undefined, table: 'todos' }
 * ```
 */
export function parseTableName(value: string): { schema: string | undefined; table: string } | undefined {
  const parts = value.trim().split('.');
  if (parts.length === 1 && IDENT.test(parts[0] as string)) return { schema: undefined, table: parts[0] as string };
  if (parts.length === 2 && IDENT.test(parts[0] as string) && IDENT.test(parts[1] as string)) {
    return { schema: parts[0] as string, table: parts[1] as string };
  }
  return undefined;
}

/**
 * The NOTIFY channel of one table's changes for one tenant:
 * `cast_` + md5 of `schema.table:tenant` (37 bytes, within PostgreSQL's
 * 63-byte identifier limit). The trigger computes the same name in SQL.
 *
 * @param table - the table
 * @param tenant - the tenant, as the tenant column's text
 * @returns the channel name
 * @example
 * ```ts
 * notifyChannel({ schema: 'public', table: 'todos' }, 'acme') // 'cast_…' (37 characters)
 * ```
 */
export function notifyChannel(table: TableName, tenant: string): string {
  return `cast_${createHash('md5').update(`${table.schema}.${table.table}:${tenant}`, 'utf8').digest('hex')}`;
}

/**
 * The SQL that creates (or replaces) a schema's trigger function and overflow
 * table. Idempotent.
 *
 * @param schema - the schema of the watched tables
 * @returns one SQL script
 * @example
 * ```ts
 * await client.query(functionSql('public'))
 * ```
 */
export function functionSql(schema: string): string {
  const s = quoteIdent(schema);
  const overflow = `${s}.${quoteIdent(OVERFLOW_TABLE)}`;
  return `CREATE TABLE IF NOT EXISTS ${overflow} (
  id uuid PRIMARY KEY,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${OVERFLOW_TABLE}_created_at`)} ON ${overflow} (created_at);
CREATE OR REPLACE FUNCTION ${s}.${quoteIdent(FUNCTION_NAME)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $cast$
-- SECURITY DEFINER: roles that write the watched tables need no rights on the overflow table.
-- Arguments: TG_ARGV[0] = the tenant column, TG_ARGV[1] = the primary-key column.
DECLARE
  ops text[];
  docs jsonb[];
  tenant text;
  doc_id text;
  change_id uuid;
  payload text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    ops := ARRAY['insert']; docs := ARRAY[to_jsonb(NEW)];
  ELSIF TG_OP = 'DELETE' THEN
    -- A delete is scoped by the old row's tenant and carries the old row.
    ops := ARRAY['delete']; docs := ARRAY[to_jsonb(OLD)];
  ELSIF (to_jsonb(OLD) -> TG_ARGV[0]) IS DISTINCT FROM (to_jsonb(NEW) -> TG_ARGV[0]) THEN
    -- The row moved to another tenant: the old one sees it leave, the new one sees it arrive.
    ops := ARRAY['delete', 'insert']; docs := ARRAY[to_jsonb(OLD), to_jsonb(NEW)];
  ELSE
    ops := ARRAY['update']; docs := ARRAY[to_jsonb(NEW)];
  END IF;
  FOR i IN 1 .. array_length(ops, 1) LOOP
    tenant := docs[i] ->> TG_ARGV[0];
    -- A row without a tenant belongs to no subscriber: it is never sent.
    CONTINUE WHEN tenant IS NULL;
    doc_id := docs[i] ->> TG_ARGV[1];
    -- Unique per change: identical changes in one transaction are not merged by NOTIFY,
    -- and every server node derives the same idempotency key from it.
    change_id := gen_random_uuid();
    payload := jsonb_build_object('v', 1, 'id', change_id, 'type', ops[i], 'schema', TG_TABLE_SCHEMA,
      'table', TG_TABLE_NAME, 'tenant', tenant, 'documentId', doc_id, 'document', docs[i])::text;
    IF octet_length(payload) >= ${NOTIFY_PAYLOAD_LIMIT} THEN
      -- Too large for NOTIFY: keep the change whole here and send a reference to it.
      INSERT INTO ${overflow} (id, payload) VALUES (change_id, payload::jsonb);
      payload := jsonb_build_object('v', 1, 'id', change_id, 'type', ops[i], 'schema', TG_TABLE_SCHEMA,
        'table', TG_TABLE_NAME, 'tenant', left(tenant, 256),
        'documentId', CASE WHEN octet_length(doc_id) <= 1024 THEN doc_id END, 'overflow', true)::text;
    END IF;
    PERFORM pg_notify('cast_' || md5(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME || ':' || tenant), payload);
  END LOOP;
  RETURN NULL;
END
$cast$;`;
}

/**
 * The SQL that attaches the trigger to one table. Idempotent (drops and
 * recreates the trigger, so a changed tenant or key column takes effect).
 *
 * @param table - the table
 * @param tenantColumn - the column holding the tenant
 * @param keyColumn - the primary-key column (the `documentId`)
 * @returns one SQL script
 * @example
 * ```ts
 * await client.query(triggerSql({ schema: 'public', table: 'todos' }, 'tenant_id', 'id'))
 * ```
 */
export function triggerSql(table: TableName, tenantColumn: string, keyColumn: string): string {
  const t = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  return `DROP TRIGGER IF EXISTS ${quoteIdent(TRIGGER_NAME)} ON ${t};
CREATE TRIGGER ${quoteIdent(TRIGGER_NAME)} AFTER INSERT OR UPDATE OR DELETE ON ${t}
  FOR EACH ROW EXECUTE FUNCTION ${quoteIdent(table.schema)}.${quoteIdent(FUNCTION_NAME)}(${quoteLiteral(tenantColumn)}, ${quoteLiteral(keyColumn)});`;
}

/**
 * The SQL that detaches the trigger from one table.
 *
 * @param table - the table
 * @returns one statement
 * @example
 * ```ts
 * await client.query(dropTriggerSql({ schema: 'public', table: 'todos' }))
 * ```
 */
export function dropTriggerSql(table: TableName): string {
  return `DROP TRIGGER IF EXISTS ${quoteIdent(TRIGGER_NAME)} ON ${quoteIdent(table.schema)}.${quoteIdent(table.table)};`;
}

/**
 * The SQL that removes a schema's trigger function and overflow table (run
 * once no table of the schema carries the trigger any more).
 *
 * @param schema - the schema
 * @returns one SQL script
 * @example
 * ```ts
 * await client.query(dropFunctionSql('public'))
 * ```
 */
export function dropFunctionSql(schema: string): string {
  const s = quoteIdent(schema);
  return `DROP FUNCTION IF EXISTS ${s}.${quoteIdent(FUNCTION_NAME)}();
DROP TABLE IF EXISTS ${s}.${quoteIdent(OVERFLOW_TABLE)};`;
}

/** Serializes concurrent installs (several nodes starting at once). */
export const INSTALL_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('cast_change_feed'))";

/** Resolves a table name (search_path applies when unqualified) to its schema and name. */
export const RESOLVE_TABLE_SQL = `SELECT n.nspname AS schema, c.relname AS table, c.oid::int8 AS oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`;

/** The columns of a table's primary key. */
export const PRIMARY_KEY_SQL = `SELECT a.attname AS name FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = $1::oid AND i.indisprimary`;

/** Whether a table has a column. */
export const HAS_COLUMN_SQL = `SELECT 1 FROM pg_attribute
WHERE attrelid = $1::oid AND attname = $2 AND attnum > 0 AND NOT attisdropped`;

/** Every table that carries the Cast trigger. */
export const WATCHED_TABLES_SQL = `SELECT n.nspname AS schema, c.relname AS table
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.tgname = '${TRIGGER_NAME}' AND NOT t.tgisinternal
ORDER BY 1, 2`;

/**
 * Reads one oversized change (parameter: its id), as text: the driver would
 * parse jsonb into JavaScript numbers, rounding those past 2^53.
 */
export function readOverflowSql(schema: string): string {
  return `SELECT payload::text AS payload FROM ${quoteIdent(schema)}.${quoteIdent(OVERFLOW_TABLE)} WHERE id = $1`;
}

/** Deletes oversized changes older than the retention (every node reads them by then). */
export function purgeOverflowSql(schema: string): string {
  return `DELETE FROM ${quoteIdent(schema)}.${quoteIdent(OVERFLOW_TABLE)} WHERE created_at < now() - interval '${OVERFLOW_RETENTION}'`;
}
