import { readJsonText } from '../../json.js';
import { CHANGE_TYPES, type ChangeType } from '../types.js';

/** A change as the trigger sends it (or stores it, when oversized). */
export interface ChangePayload {
  id: string;
  type: ChangeType;
  schema: string;
  table: string;
  tenant: string;
  documentId: string | null;
  /** The row (absent in a reference). */
  document?: unknown;
  /** The row as the JSON text PostgreSQL wrote (large numbers kept exactly), when the payload was text. */
  documentJson?: string;
  /** True when the change is in the overflow table under `id`. */
  overflow: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Validates a change sent by the trigger: a NOTIFY payload or an overflow row
 * (JSON text; an already parsed row is accepted too, without `documentJson`).
 *
 * @param value - the payload
 * @returns the change, or undefined when it is not one the trigger writes
 * @example
 * ```ts
 * parseChangePayload('{"v":1,"id":"…","type":"insert",…}')
 * ```
 */
export function parseChangePayload(value: unknown): ChangePayload | undefined {
  let raw: unknown = value;
  let documentJson: string | undefined;
  if (typeof value === 'string') {
    try {
      // The document is forwarded as PostgreSQL wrote it: parsing and serializing it again would round
      // a bigint or numeric past 2^53. The text is the trigger's own, so no depth limit applies.
      const doc = readJsonText(value, { maxDepth: Number.POSITIVE_INFINITY, sources: [['document']] });
      raw = doc.value;
      documentJson = doc.source(['document']);
    } catch {
      return undefined;
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const p = raw as Record<string, unknown>;
  if (p.v !== 1 || typeof p.id !== 'string' || !UUID.test(p.id)) return undefined;
  if (typeof p.type !== 'string' || !(CHANGE_TYPES as readonly string[]).includes(p.type)) return undefined;
  if (typeof p.schema !== 'string' || typeof p.table !== 'string' || typeof p.tenant !== 'string') return undefined;
  if (p.documentId !== null && p.documentId !== undefined && typeof p.documentId !== 'string') return undefined;
  const overflow = p.overflow === true;
  if (!overflow && !('document' in p)) return undefined;
  const out: ChangePayload = {
    id: p.id,
    type: p.type as ChangeType,
    schema: p.schema,
    table: p.table,
    tenant: p.tenant,
    documentId: (p.documentId as string | null | undefined) ?? null,
    overflow,
  };
  if (!overflow) {
    out.document = p.document;
    if (documentJson !== undefined) out.documentJson = documentJson;
  }
  return out;
}
