import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Delivery, DeliveryLedger, addCounts, emptyCounts, isFailure } from './ledger.js';

describe('DeliveryLedger', () => {
  it('counts a complete in-order window as clean', () => {
    const l = new DeliveryLedger();
    l.open(100, 50);
    for (let s = 100; s < 150; s++) expect(l.record(s, 1000, s)).toBe(Delivery.ok);
    const c = l.close(50);
    expect(c).toEqual({ received: 50, lost: 0, duplicated: 0, outOfOrder: 0, outside: 0 });
    expect(isFailure(c)).toBe(false);
  });

  it('counts missing numbers as lost', () => {
    const l = new DeliveryLedger();
    l.open(0, 10);
    for (const s of [0, 1, 2, 5, 9]) l.record(s, 1, s);
    expect(l.close(10)).toMatchObject({ received: 5, lost: 5 });
  });

  it('counts a number seen twice as a duplicate, once', () => {
    const l = new DeliveryLedger();
    l.open(0, 3);
    l.record(0, 1, 0);
    l.record(1, 1, 1);
    expect(l.record(1, 1, 2)).toBe(Delivery.duplicate);
    l.record(2, 1, 3);
    const c = l.close(3);
    expect(c).toMatchObject({ received: 3, lost: 0, duplicated: 1 });
    expect(isFailure(c)).toBe(true);
  });

  it('counts a position lower than the previous one as out of order', () => {
    const l = new DeliveryLedger();
    l.open(0, 3);
    l.record(0, 5, 1);
    l.record(1, 5, 0); // same ms, lower counter
    l.record(2, 4, 9); // lower ms
    expect(l.close(3)).toMatchObject({ received: 3, outOfOrder: 2 });
  });

  it('carries the order across windows until reset', () => {
    const l = new DeliveryLedger();
    l.open(0, 1);
    l.record(0, 10, 0);
    l.close(1);
    l.open(1, 1);
    l.record(1, 9, 0);
    expect(l.close(1).outOfOrder).toBe(1);
    l.open(2, 1);
    l.resetOrder();
    l.record(2, 1, 0);
    expect(l.close(1).outOfOrder).toBe(0);
  });

  it('counts late and unexpected numbers as outside the window', () => {
    const l = new DeliveryLedger();
    l.open(10, 5);
    expect(l.record(9, 1, 0)).toBe(Delivery.outside);
    expect(l.record(15, 1, 1)).toBe(Delivery.outside);
    l.record(13, 1, 2); // within capacity but beyond what was published
    expect(l.close(3)).toMatchObject({ received: 0, lost: 3, outside: 3 });
  });

  it('agrees with a set-based model for any delivery sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: -5, max: 210 }), { maxLength: 400 }),
        (count, seqs) => {
          const l = new DeliveryLedger();
          l.open(0, count);
          const seen = new Set<number>();
          let dups = 0;
          let outside = 0;
          seqs.forEach((s, i) => {
            l.record(s, 1, i);
            if (s < 0 || s >= count) outside++;
            else if (seen.has(s)) dups++;
            else seen.add(s);
          });
          expect(l.close(count)).toEqual({
            received: seen.size,
            lost: count - seen.size,
            duplicated: dups,
            outOfOrder: 0,
            outside,
          });
        },
      ),
    );
  });

  it('reuses its storage across windows without leaking earlier marks', () => {
    const l = new DeliveryLedger();
    l.open(0, 64);
    for (let s = 0; s < 64; s++) l.record(s, 1, s);
    l.open(64, 64);
    expect(l.close(64)).toMatchObject({ received: 0, lost: 64 });
  });
});

describe('addCounts', () => {
  it('sums every field', () => {
    const total = emptyCounts();
    addCounts(total, { received: 1, lost: 2, duplicated: 3, outOfOrder: 4, outside: 5 });
    addCounts(total, { received: 1, lost: 1, duplicated: 1, outOfOrder: 1, outside: 1 });
    expect(total).toEqual({ received: 2, lost: 3, duplicated: 4, outOfOrder: 5, outside: 6 });
  });
});
