import pg from 'pg';
import { installWatch, listWatched, removeWatch, WatchError } from '../sources/postgres/install.js';

const USAGE = `Usage: cast-server watch <install|remove|list> [table|schema.table ...] [--print]

Installs or removes the Cast change-feed trigger on PostgreSQL tables.
  install   creates the trigger function, the overflow table and one trigger per table (idempotent)
  remove    drops the triggers, and a schema's function and overflow table once none is left
  list      prints the watched tables
  --print   prints the SQL instead of running it

Tables default to CAST_WATCH_TABLES. Needs CAST_DATABASE_URL; the tenant column is
CAST_TENANT_COLUMN (default tenant_id).`;

/**
 * Runs the watch command.
 *
 * `cast-server watch ...` runs it (`src/main.ts`).
 *
 * @param argv - the arguments after `watch`
 * @param env - the environment
 * @returns the process exit code
 * @example
 * ```ts
 * process.exitCode = await runWatch(['install', 'todos'], process.env)
 * ```
 */
export async function runWatch(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const args = argv.filter((a) => !a.startsWith('--'));
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const [command, ...rest] = args;
  if (flags.has('--help')) {
    console.log(USAGE);
    return 0;
  }
  if (!command || !['install', 'remove', 'list'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  for (const f of flags) {
    if (f !== '--print' && f !== '--help') {
      console.error(`cast watch: unknown option ${f}\n\n${USAGE}`);
      return 2;
    }
  }
  const url = env.CAST_DATABASE_URL?.trim();
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    console.error('cast watch: set CAST_DATABASE_URL to the database (postgres://user@host:5432/db).');
    return 2;
  }
  const tenantColumn = env.CAST_TENANT_COLUMN?.trim() || 'tenant_id';
  const tables =
    rest.length > 0
      ? rest
      : (env.CAST_WATCH_TABLES ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  if (command !== 'list' && tables.length === 0) {
    console.error('cast watch: name the tables (or set CAST_WATCH_TABLES).');
    return 2;
  }
  const db = new pg.Client({ connectionString: url, application_name: 'cast-server watch' });
  try {
    await db.connect();
  } catch (err) {
    console.error(`cast watch: cannot reach the database: ${(err as Error).message}`);
    return 1;
  }
  try {
    if (command === 'list') {
      for (const t of await listWatched(db)) console.log(`${t.schema}.${t.table}`);
      return 0;
    }
    const dryRun = flags.has('--print');
    const result =
      command === 'install'
        ? await installWatch(db, tables, tenantColumn, { dryRun })
        : await removeWatch(db, tables, { dryRun });
    if (dryRun) {
      console.log(`BEGIN;\n${result.statements.map((s) => (s.endsWith(';') ? s : `${s};`)).join('\n')}\nCOMMIT;`);
    } else {
      const names = result.tables.map((t) => `${t.schema}.${t.table}`).join(', ');
      console.log(
        command === 'install' ? `Watching ${names} (tenant column "${tenantColumn}").` : `No longer watching ${names}.`,
      );
    }
    return 0;
  } catch (err) {
    const message = err instanceof WatchError ? err.message : `the database refused: ${(err as Error).message}`;
    console.error(`cast watch: ${message}`);
    return 1;
  } finally {
    await db.end().catch(() => {});
  }
}
