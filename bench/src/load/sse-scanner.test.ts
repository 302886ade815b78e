import { encodeComment, encodeFrame } from '@cast/protocol';
import { describe, expect, it } from 'vitest';
import { createSseScanner, frameEventIs, frameField, readPosition, type ScannedFrame } from './sse-scanner.js';

type Copy = { id?: string; event?: string; data?: string; dataLines: number };

function collect(chunks: string[]): Copy[] {
  const out: Copy[] = [];
  const scanner = createSseScanner((f: ScannedFrame) => {
    out.push({
      id: frameField(f, 'id'),
      event: frameField(f, 'event'),
      data: frameField(f, 'data'),
      dataLines: f.dataLines,
    });
  });
  for (const c of chunks) scanner.feed(Buffer.from(c, 'latin1'));
  return out;
}

const stream =
  encodeFrame({ retry: 1000, event: 'connected', data: '{"channels":["bench"]}' }) +
  encodeFrame({ id: '1-0/bench', event: 'bench.tick', data: '{"s":0,"t":1.5,"p":"x"}' }) +
  encodeComment('hb') +
  encodeFrame({ id: '1-1/bench', event: 'bench.tick', data: '{"s":1,"t":2,"p":""}' });

const expected: Copy[] = [
  { id: undefined, event: 'connected', data: '{"channels":["bench"]}', dataLines: 1 },
  { id: '1-0/bench', event: 'bench.tick', data: '{"s":0,"t":1.5,"p":"x"}', dataLines: 1 },
  { id: '1-1/bench', event: 'bench.tick', data: '{"s":1,"t":2,"p":""}', dataLines: 1 },
];

describe('createSseScanner', () => {
  it('reads frames encoded by the protocol package and skips heartbeats', () => {
    expect(collect([stream])).toEqual(expected);
  });

  it('gives the same frames however the stream is split', () => {
    for (let size = 1; size < 40; size += 3) {
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
      expect(collect(chunks)).toEqual(expected);
    }
  });

  it('holds an unfinished frame until its end arrives', () => {
    const frames: string[] = [];
    const scanner = createSseScanner((f) => frames.push(frameField(f, 'data')!));
    scanner.feed(Buffer.from('data: {"a":1}\n'));
    expect(frames).toEqual([]);
    expect(scanner.pending()).toBeGreaterThan(0);
    scanner.feed(Buffer.from('\n'));
    expect(frames).toEqual(['{"a":1}']);
    expect(scanner.pending()).toBe(0);
  });

  it('counts extra data lines and keeps the first', () => {
    expect(collect(['data: a\ndata: b\n\n'])).toEqual([{ id: undefined, event: undefined, data: 'a', dataLines: 2 }]);
  });

  it('accepts a field without the space after the colon', () => {
    expect(collect(['event:x\ndata:1\n\n'])).toEqual([{ id: undefined, event: 'x', data: '1', dataLines: 1 }]);
  });

  it('scans the range it is given, keeping an unfinished frame across feeds of one buffer', () => {
    const bytes = Buffer.from(`xx${stream}yy`, 'latin1');
    const out: Copy[] = [];
    const scanner = createSseScanner((f) =>
      out.push({
        id: frameField(f, 'id'),
        event: frameField(f, 'event'),
        data: frameField(f, 'data'),
        dataLines: f.dataLines,
      }),
    );
    const mid = 2 + Math.floor(stream.length / 2);
    scanner.feed(bytes, 2, mid);
    // The socket reuses its read buffer: what the scanner kept must not point into it.
    const second = Buffer.from(bytes.subarray(mid, bytes.length - 2));
    bytes.fill(0);
    scanner.feed(second);
    expect(out).toEqual(expected);
    expect(scanner.pending()).toBe(0);
  });

  it('compares the event name without copying it', () => {
    let hit = false;
    createSseScanner((f) => {
      hit = frameEventIs(f, 'connected') && !frameEventIs(f, 'connect');
    }).feed(Buffer.from('event: connected\ndata: {}\n\n'));
    expect(hit).toBe(true);
  });
});

describe('readPosition', () => {
  it('reads the position of a wire id', () => {
    const p = { ms: 0, seq: 0 };
    expect(readPosition(Buffer.from('1732400000000-12/orders'), 0, 23, p)).toBe(true);
    expect(p).toEqual({ ms: 1732400000000, seq: 12 });
    expect(readPosition(Buffer.from('x5-2'), 1, 4, p)).toBe(true);
    expect(p).toEqual({ ms: 5, seq: 2 });
  });

  it('rejects ids that are not positions', () => {
    const p = { ms: 0, seq: 0 };
    for (const bad of ['', 'abc', '5', '5-', '-5', '5-x', '5-1x'])
      expect(readPosition(Buffer.from(bad), 0, bad.length, p)).toBe(false);
  });
});
