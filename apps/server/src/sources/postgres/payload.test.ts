import { describe, expect, it } from 'vitest';
import { parseChangePayload } from './payload.js';

const ID = '0b6f3a52-5d7e-4f5e-9a51-3f1c2b7d8e90';
const base = { v: 1, id: ID, type: 'insert', schema: 'public', table: 'todos', tenant: 'acme', documentId: '7' };

describe('parseChangePayload', () => {
  it('reads a NOTIFY payload with its document', () => {
    const p = parseChangePayload(JSON.stringify({ ...base, document: { id: 7, title: 'x' } }));
    expect(p).toEqual({
      ...base,
      v: undefined,
      document: { id: 7, title: 'x' },
      documentJson: '{"id":7,"title":"x"}',
      overflow: false,
    });
  });

  it('keeps the document as PostgreSQL wrote it (jsonb text), numbers past 2^53 unrounded, whitespace removed', () => {
    const text = `{"v": 1, "id": "${ID}", "type": "insert", "schema": "public", "table": "todos", "tenant": "acme", "document": {"id": 9007199254740993, "n": 12345678901234567890.5, "t": "a b"}, "documentId": "7"}`;
    const p = parseChangePayload(text);
    expect(p?.documentJson).toBe('{"id":9007199254740993,"n":12345678901234567890.5,"t":"a b"}');
    expect(p?.tenant).toBe('acme');
  });

  it('reads a reference to an oversized change, without a document', () => {
    const p = parseChangePayload(JSON.stringify({ ...base, overflow: true }));
    expect(p?.overflow).toBe(true);
    expect(p && 'document' in p).toBe(false);
  });

  it('reads an overflow row that the driver already parsed', () => {
    expect(parseChangePayload({ ...base, type: 'delete', document: null })?.type).toBe('delete');
  });

  it('keeps a null documentId (a table whose key is null)', () => {
    expect(parseChangePayload({ ...base, documentId: null, document: {} })?.documentId).toBeNull();
  });

  it('refuses what the trigger never sends', () => {
    const bad: unknown[] = [
      'not json',
      '[]',
      JSON.stringify({ ...base }),
      JSON.stringify({ ...base, v: 2, document: {} }),
      JSON.stringify({ ...base, id: 'x', document: {} }),
      JSON.stringify({ ...base, type: 'truncate', document: {} }),
      JSON.stringify({ ...base, tenant: 5, document: {} }),
      JSON.stringify({ ...base, documentId: 7, document: {} }),
      null,
    ];
    for (const b of bad) expect(parseChangePayload(b), String(b)).toBeUndefined();
  });
});
