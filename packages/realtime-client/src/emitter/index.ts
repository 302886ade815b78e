/**
 * Removes the handler it was returned for; calling it again does nothing.
 *
 * @example
 * ```ts
 * const off: Unsubscribe = realtime.on('order.created', render)
 * off()
 * ```
 */
export type Unsubscribe = () => void;

/** A set of handlers of one kind, called in the order they were added. */
export interface Listeners<A extends unknown[]> {
  /** Adds a handler. */
  add(handler: (...args: A) => void): Unsubscribe;
  /** Calls every handler; a handler that throws does not stop the others. */
  emit(...args: A): void;
  /** Whether any handler is registered. */
  readonly size: number;
  /** Removes every handler. */
  clear(): void;
}

/**
 * A list of handlers. A handler that throws is reported to the runtime
 * (`reportError` where it exists, else `console.error`) and the others still
 * run, so an app's bug never breaks the connection loop.
 *
 * @returns an empty list
 * @example
 * ```ts
 * const changes = createListeners<[boolean]>()
 * const off = changes.add((up) => console.log(up))
 * changes.emit(true); off()
 * ```
 */
export function createListeners<A extends unknown[]>(): Listeners<A> {
  let handlers: Array<(...args: A) => void> = [];
  return {
    add(handler) {
      // A fresh wrapper per add, so the same function added twice is removed once per unsubscribe.
      const entry = (...args: A) => handler(...args);
      handlers = [...handlers, entry];
      return () => {
        handlers = handlers.filter((h) => h !== entry);
      };
    },
    emit(...args) {
      // Iterate a snapshot: handlers may unsubscribe (or subscribe) while being called.
      for (const handler of handlers) {
        try {
          handler(...args);
        } catch (error) {
          reportHandlerError(error);
        }
      }
    },
    get size() {
      return handlers.length;
    },
    clear() {
      handlers = [];
    },
  };
}

function reportHandlerError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else console.error(error);
}
