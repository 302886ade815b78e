import { el } from './dom.js';

/** An event as the log shows it. */
export interface LoggedEvent {
  type: string;
  channel: string | undefined;
  id: string | undefined;
  data: unknown;
}

/** Options of {@link createEventLog}. */
export interface EventLogOptions {
  /** The `<ol>` the rows go into (newest first). */
  list: HTMLOListElement;
  /** Told the counts after every change, for the toolbar. */
  onChange(counts: { shown: number; total: number; held: number; paused: boolean }): void;
  /** Rows kept; older ones are dropped so a busy channel cannot grow the page without bound. @defaultValue 500 */
  limit?: number;
}

/** The live event list: bounded, filterable, pausable. */
export interface EventLog {
  add(event: LoggedEvent): void;
  /** A line from the console itself (resumed, reconnected), shown between events. */
  note(text: string, tone?: 'info' | 'warn'): void;
  /** Case-insensitive text matched against channel, name, id and JSON. */
  setFilter(text: string): void;
  /** While paused, events are held (within the limit) and shown on resume. */
  setPaused(paused: boolean): void;
  clear(): void;
  readonly paused: boolean;
}

interface Row {
  node: HTMLLIElement;
  haystack: string;
}

function time(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * Creates the event list over an `<ol>`. Rows are built with text nodes only:
 * event data comes from anyone who can publish and is never parsed as HTML.
 *
 * @param options - the list element and the change callback
 * @returns the log
 * @example
 * ```ts
 * const log = createEventLog({ list, onChange: renderCounts })
 * realtime.onAny((e) => log.add(e))
 * ```
 */
export function createEventLog(options: EventLogOptions): EventLog {
  const { list, onChange } = options;
  const limit = options.limit ?? 500;
  const rows: Row[] = [];
  let held: { event: LoggedEvent; at: Date }[] = [];
  let filter = '';
  let paused = false;

  const changed = () =>
    onChange({
      shown: rows.filter((r) => !r.node.hidden).length,
      total: rows.length,
      held: held.length,
      paused,
    });

  const insert = (row: Row) => {
    row.node.hidden = filter !== '' && !row.haystack.includes(filter);
    list.prepend(row.node);
    rows.push(row);
    while (rows.length > limit) rows.shift()?.node.remove();
  };

  const render = (event: LoggedEvent, at: Date) => {
    const json = JSON.stringify(event.data, null, 2) ?? 'null';
    const node = el(
      'li',
      { class: 'event' },
      el(
        'div',
        { class: 'event-head' },
        el('time', { datetime: at.toISOString() }, time(at)),
        el('span', { class: 'event-channel', title: 'channel' }, event.channel ?? '—'),
        el('span', { class: 'event-name', title: 'event' }, event.type),
        el('span', { class: 'event-id', title: 'event id' }, event.id ?? ''),
      ),
      el('pre', { class: 'event-data' }, json),
    );
    insert({ node, haystack: [event.channel, event.type, event.id, json].join('\n').toLowerCase() });
  };

  return {
    get paused() {
      return paused;
    },
    add(event) {
      const at = new Date();
      if (paused) {
        held.push({ event, at });
        if (held.length > limit) held.shift();
      } else {
        render(event, at);
      }
      changed();
    },
    note(text, tone = 'info') {
      const at = new Date();
      const node = el(
        'li',
        { class: `note note-${tone}`, role: 'note' },
        el('time', { datetime: at.toISOString() }, time(at)),
        el('span', {}, text),
      );
      insert({ node, haystack: text.toLowerCase() });
      changed();
    },
    setFilter(text) {
      filter = text.trim().toLowerCase();
      for (const row of rows) row.node.hidden = filter !== '' && !row.haystack.includes(filter);
      changed();
    },
    setPaused(next) {
      paused = next;
      if (!paused) {
        const pending = held;
        held = [];
        for (const { event, at } of pending) render(event, at);
      }
      changed();
    },
    clear() {
      for (const row of rows) row.node.remove();
      rows.length = 0;
      held = [];
      changed();
    },
  };
}
