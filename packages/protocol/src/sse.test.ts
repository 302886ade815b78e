import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeComment, encodeFrame } from './sse.js';

function parseAll(
  text: string,
  chunks: number[] = [],
): { events: EventSourceMessage[]; comments: string[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = createParser({
    onEvent: (e) => events.push(e),
    onComment: (c) => comments.push(c),
    onRetry: (r) => retries.push(r),
  });
  // Feed in arbitrary pieces: a frame split across reads must parse the same.
  let at = 0;
  for (const size of chunks) {
    if (at >= text.length) break;
    parser.feed(text.slice(at, at + size));
    at += size;
  }
  parser.feed(text.slice(at));
  return { events, comments, retries };
}

const idArb = fc.string({ maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s) && s.trim() === s && s !== '');
const eventArb = fc
  .string({ minLength: 1, maxLength: 40 })
  .filter((s) => !/[\r\n]/.test(s) && s.trim() === s && s !== '');
const jsonArb = fc.jsonValue().map((v) => JSON.stringify(v));

describe('encodeFrame', () => {
  it('writes id, event and one data line with LF endings and a blank line at the end', () => {
    expect(encodeFrame({ id: '5-0/orders', event: 'order.created', data: '{"id":1}' })).toBe(
      'id: 5-0/orders\nevent: order.created\ndata: {"id":1}\n\n',
    );
    expect(encodeFrame({ retry: 1000, event: 'connected', data: '{"channels":["orders"]}' })).toBe(
      'retry: 1000\nevent: connected\ndata: {"channels":["orders"]}\n\n',
    );
  });

  it('round-trips any JSON payload, id and event name through eventsource-parser, whatever the chunking', () => {
    fc.assert(
      fc.property(
        idArb,
        eventArb,
        jsonArb,
        fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 10 }),
        (id, event, data, chunks) => {
          const text = encodeFrame({ id, event, data });
          expect(text.includes('\r')).toBe(false);
          // JSON is one line: exactly one data: line, as simple split-on-blank-line readers need.
          expect(text.split('\n').filter((l) => l.startsWith('data:'))).toHaveLength(1);
          const { events } = parseAll(text, chunks);
          expect(events).toEqual([{ id, event, data }]);
        },
      ),
    );
  });

  it('round-trips a sequence of frames and comments in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(idArb, eventArb, jsonArb), { minLength: 1, maxLength: 8 }), (frames) => {
        const text = frames.map(([id, event, data]) => encodeFrame({ id, event, data }) + encodeComment('hb')).join('');
        const parsed = parseAll(text);
        expect(parsed.events.map((e) => [e.id, e.event, e.data])).toEqual(frames);
        expect(parsed.comments).toHaveLength(frames.length);
      }),
    );
  });

  it('splits multi-line data into data: lines that the parser joins back with LF', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ maxLength: 10 }).filter((s) => !/[\r\n]/.test(s)),
          { minLength: 1, maxLength: 5 },
        ),
        fc.constantFrom('\n', '\r\n', '\r'),
        (lines, brk) => {
          const { events } = parseAll(encodeFrame({ data: lines.join(brk) }));
          if (lines.join('') === '' && lines.length === 1) return; // an empty single data line is still an event with ""
          expect(events[0]?.data).toBe(lines.join('\n'));
        },
      ),
    );
  });

  it('carries the retry hint to the parser', () => {
    expect(parseAll(encodeFrame({ retry: 1000, event: 'connected', data: '{}' })).retries).toEqual([1000]);
  });

  it('refuses line breaks in id or event and a bad retry, so no field can be injected', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 10 }),
        fc.constantFrom('\r', '\n', '\r\n'),
        fc.string({ maxLength: 10 }),
        (a, brk, b) => {
          expect(() => encodeFrame({ event: `${a}${brk}${b}`, data: '{}' })).toThrow(TypeError);
          expect(() => encodeFrame({ id: `${a}${brk}${b}`, data: '{}' })).toThrow(TypeError);
        },
      ),
    );
    expect(() => encodeFrame({ id: 'a\0b' })).toThrow(TypeError);
    expect(() => encodeFrame({ retry: -1 })).toThrow(TypeError);
    expect(() => encodeFrame({ retry: 1.5 })).toThrow(TypeError);
  });
});

describe('encodeComment', () => {
  it('writes a heartbeat comment that parsers report as a comment, not an event', () => {
    expect(encodeComment('hb')).toBe(': hb\n\n');
    const parsed = parseAll(encodeComment('hb') + encodeComment());
    expect(parsed.events).toEqual([]);
    expect(parsed.comments.map((c) => c.trim())).toEqual(['hb', '']);
  });

  it('keeps any text a comment, even with line breaks', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        expect(parseAll(encodeComment(text)).events).toEqual([]);
      }),
    );
  });
});
