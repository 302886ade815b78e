import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makePayload, readPayload } from './payload.js';

describe('makePayload / readPayload', () => {
  it('builds valid JSON of the requested size', () => {
    const p = makePayload(42, 1732400000000.125, 200);
    expect(p).toHaveLength(200);
    expect(JSON.parse(p)).toMatchObject({ s: 42, t: 1732400000000.125 });
  });

  it('reads back what it wrote, also after a JSON round trip', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.double({ min: 1e12, max: 2e12, noNaN: true }), fc.nat(300), (seq, t, bytes) => {
        const out = { seq: -1, sentAt: -1 };
        for (const text of [makePayload(seq, t, bytes), JSON.stringify(JSON.parse(makePayload(seq, t, bytes)))]) {
          expect(readPayload(Buffer.from(text), 0, text.length, out)).toBe(true);
          expect(out.seq).toBe(seq);
          expect(Math.abs(out.sentAt - t)).toBeLessThan(0.001);
        }
      }),
    );
  });

  it('reads a payload inside a larger text', () => {
    const text = `data: ${makePayload(3, 10.5, 0)}\n`;
    const out = { seq: 0, sentAt: 0 };
    expect(readPayload(Buffer.from(text), 6, text.length - 1, out)).toBe(true);
    expect(out).toEqual({ seq: 3, sentAt: 10.5 });
  });

  it('rejects other payloads', () => {
    const out = { seq: 0, sentAt: 0 };
    for (const bad of ['{}', '{"t":1,"s":2}', '{"s":,"t":1}', '{"s":1,"t":x}']) {
      expect(readPayload(Buffer.from(bad), 0, bad.length, out)).toBe(false);
    }
  });
});
