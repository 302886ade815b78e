/** The kinds of change a source reports. */
export const CHANGE_TYPES = ['insert', 'update', 'delete'] as const;

/** One of {@link CHANGE_TYPES}. */
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** One change of one document, already scoped to its tenant by the source. */
export interface Change {
  tenant: string;
  /** The collection's canonical name (`schema.table` for PostgreSQL). */
  collection: string;
  type: ChangeType;
  /** The document's key as text, or null when the source has none. */
  documentId: string | null;
  /** The new document; for a delete, the old one. */
  document: unknown;
  /**
   * The document as JSON text exactly as the source wrote it (a bigint past
   * 2^53 kept as written), when the source has it; published instead of
   * serializing `document` again.
   */
  documentJson?: string;
  /**
   * Identifies the change at its origin, the same on every server node that
   * sees it (so a cluster publishes it once).
   */
  changeId: string;
}

/** A tenant's subscription to one collection. */
export interface Watch {
  tenant: string;
  collection: string;
}

/** Where a source reports. */
export interface ChangeSink {
  /** A change of a watched (tenant, collection). Changes arrive in commit order. */
  change(change: Change): Promise<void>;
  /**
   * These watches are now active: every change from now on will arrive.
   * Called after the first watch and again after a reconnect, when changes in
   * between may have been missed.
   */
  active(watches: readonly Watch[], reconnected: boolean): void;
  /** These watches stopped being active (the connection was lost, or a change could not be read). */
  inactive(watches: readonly Watch[]): void;
}

/**
 * A database change feed: PostgreSQL today; a MongoDB change stream (a
 * `collection.watch()` with a tenant `$match`) would implement the same
 * interface. The server tells it which (tenant, collection) pairs have
 * subscribers; it reports their changes and when it could not see them.
 */
export interface ChangeSource {
  /** `postgres`, for logs. */
  readonly kind: string;
  /** Connects (and installs what the configuration asks for); rejects when that fails. */
  start(sink: ChangeSink): Promise<void>;
  /** The collections that can be watched, by canonical name; `refresh` asks the database again. */
  collections(refresh: boolean): Promise<readonly string[]>;
  /** Starts receiving a tenant's changes of a collection. */
  watch(tenant: string, collection: string): void;
  /** Stops receiving them. */
  unwatch(tenant: string, collection: string): void;
  /** Whether the source is connected now. */
  ready(): boolean;
  /** Disconnects for good. */
  close(): Promise<void>;
}
