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
  /** True when the change is in the overflow table under `id`. */
  overflow: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Validates a change sent by the trigger: a NOTIFY payload (JSON text) or an
 * overflow row (already parsed).
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
  if (typeof value === 'string') {
    try {
      raw = JSON.parse(value);
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
  if (!overflow) out.document = p.document;
  return out;
}
