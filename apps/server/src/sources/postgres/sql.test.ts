import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  functionSql,
  notifyChannel,
  NOTIFY_PAYLOAD_LIMIT,
  parseTableName,
  quoteIdent,
  quoteLiteral,
  triggerSql,
} from './sql.js';

describe('notifyChannel', () => {
  it('is cast_ and the md5 of schema.table:tenant, as the trigger computes it', () => {
    const expected = `cast_${createHash('md5').update('public.todos:acme').digest('hex')}`;
    expect(notifyChannel({ schema: 'public', table: 'todos' }, 'acme')).toBe(expected);
  });

  it('fits PostgreSQL identifiers (63 bytes) for the longest names', () => {
    const channel = notifyChannel({ schema: 's'.repeat(63), table: 't'.repeat(63) }, 'x'.repeat(500));
    expect(Buffer.byteLength(channel)).toBeLessThanOrEqual(63);
    expect(channel).toMatch(/^cast_[0-9a-f]{32}$/);
  });

  it('differs per tenant and per table', () => {
    const t = { schema: 'public', table: 'todos' };
    expect(notifyChannel(t, 'acme')).not.toBe(notifyChannel(t, 'beta'));
    expect(notifyChannel(t, 'acme')).not.toBe(notifyChannel({ schema: 'public', table: 'notes' }, 'acme'));
    expect(notifyChannel({ schema: 'a', table: 'b.c' }, 'd')).toBe(notifyChannel({ schema: 'a', table: 'b.c' }, 'd'));
  });
});

describe('parseTableName', () => {
  it('reads table and schema.table', () => {
    expect(parseTableName('todos')).toEqual({ schema: undefined, table: 'todos' });
    expect(parseTableName(' app.todos ')).toEqual({ schema: 'app', table: 'todos' });
  });

  it('refuses anything that is not a plain identifier', () => {
    for (const bad of ['', 'a.b.c', 'todos;drop', '"todos"', '1abc', 'a.', '.a', 'x'.repeat(64)]) {
      expect(parseTableName(bad), bad).toBeUndefined();
    }
  });
});

describe('quoting', () => {
  it('doubles quotes inside identifiers and literals', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });

  it('passes the tenant and key columns to the trigger as quoted literals', () => {
    const sql = triggerSql({ schema: 'app', table: 'todos' }, 'org_id', 'id');
    expect(sql).toContain('ON "app"."todos"');
    expect(sql).toContain(`"app"."cast_notify_change"('org_id', 'id')`);
    expect(sql.indexOf('DROP TRIGGER IF EXISTS')).toBeLessThan(sql.indexOf('CREATE TRIGGER'));
  });

  it('guards the payload at the NOTIFY limit with the overflow table of the same schema', () => {
    const sql = functionSql('app');
    expect(sql).toContain(`octet_length(payload) >= ${NOTIFY_PAYLOAD_LIMIT}`);
    expect(sql).toContain('INSERT INTO "app"."cast_change_overflow"');
    expect(sql).toContain('CREATE OR REPLACE FUNCTION "app"."cast_notify_change"()');
  });
});
