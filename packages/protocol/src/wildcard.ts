import { isValidPattern } from './names.js';

/**
 * A compiled set of event-type patterns: true when a name matches any of them.
 *
 * @example
 * ```ts
 * const wanted: EventMatcher = createMatcher(['ticket.*'])
 * wanted('ticket.closed') // true
 * ```
 */
export type EventMatcher = (eventName: string) => boolean;

/**
 * Whether one pattern matches an event name. `*` matches every name;
 * `ticket.*` matches every name that starts with `ticket.` (so also
 * `ticket.comment.added`) but not `ticket` itself; any other pattern matches
 * only itself.
 *
 * @param pattern - `*`, `prefix.*` or an exact name
 * @param eventName - the event's name
 * @returns whether the pattern covers the name
 * @example
 * ```ts
 * matchesPattern('ticket.*', 'ticket.created') // true
 * matchesPattern('ticket.*', 'tickets.created') // false
 * ```
 */
export function matchesPattern(pattern: string, eventName: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) {
    const prefix = pattern.slice(0, -1); // keeps the dot: "ticket."
    return eventName.length > prefix.length && eventName.startsWith(prefix);
  }
  return pattern === eventName;
}

/**
 * Compiles a list of patterns into one matcher: exact names in a set, prefixes
 * in a list, so matching costs one lookup plus one check per prefix. An empty
 * list matches everything (no filter).
 *
 * @param patterns - patterns as accepted by {@link matchesPattern}
 * @returns the matcher
 * @throws TypeError when a pattern is invalid
 * @example
 * ```ts
 * const match = createMatcher(['order.created', 'ticket.*'])
 * match('ticket.closed') // true
 * ```
 */
export function createMatcher(patterns: readonly string[]): EventMatcher {
  if (patterns.length === 0 || patterns.includes('*')) {
    for (const p of patterns) assertPattern(p);
    return () => true;
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    assertPattern(p);
    if (p.endsWith('.*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (name) => {
    if (exact.has(name)) return true;
    for (const prefix of prefixes) {
      if (name.length > prefix.length && name.startsWith(prefix)) return true;
    }
    return false;
  };
}

function assertPattern(pattern: string): void {
  if (!isValidPattern(pattern)) {
    throw new TypeError(`Invalid event pattern ${JSON.stringify(pattern)}: use "*", "prefix.*" or an event name.`);
  }
}

/**
 * Parses a comma-separated `types` filter (`order.created,ticket.*`), trimming
 * blanks and dropping empty entries.
 *
 * @param value - the query parameter's value
 * @returns the patterns, possibly empty
 * @example
 * ```ts
 * parsePatternList(' a.b , c.* ') // ['a.b', 'c.*']
 * ```
 */
export function parsePatternList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
