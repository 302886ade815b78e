import { describe, expect, it } from 'vitest';
import { type Figure, limitOf, meetsGoal, ratioOf, renderTable } from './report.js';

const m = (value: number, failures: string[] = []) => ({ value, detail: {}, failures });

describe('ratioOf / meetsGoal', () => {
  it('divides Cast by the baseline and checks the goal in the right direction', () => {
    const up: Figure = { id: 'a', label: 'a', unit: '/s', higherIsBetter: true, goal: 0.8, baseline: m(100), cast: m(85) };
    expect(ratioOf(up)).toBeCloseTo(0.85);
    expect(meetsGoal(up)).toBe(true);
    const down: Figure = { id: 'b', label: 'b', unit: 'ms', higherIsBetter: false, goal: 1.25, baseline: m(10), cast: m(13) };
    expect(meetsGoal(down)).toBe(false);
  });

  it('has no ratio without both figures', () => {
    const f: Figure = { id: 'a', label: 'a', unit: '/s', higherIsBetter: true, goal: 0.8, cast: m(1) };
    expect(ratioOf(f)).toBeNaN();
    expect(meetsGoal(f)).toBeUndefined();
  });
});

describe('limitOf', () => {
  it('names the busiest resource', () => {
    expect(limitOf({ hubUser: 0.6, hubSystem: 0.35, load: 0.5 }, 2)).toMatch(/^hub CPU/);
    expect(limitOf({ hubUser: 0.5, hubSystem: 0.2, load: 1.1 }, 2)).toMatch(/^machine CPU/);
    expect(limitOf({ hubUser: 0.2, hubSystem: 0.1, load: 0.9 }, 4)).toMatch(/^load generator CPU/);
    expect(limitOf({ hubUser: 0.1, hubSystem: 0.1, load: 0.1 }, 2)).toMatch(/^not CPU-bound/);
    expect(limitOf({ hubUser: 0.3, hubSystem: 0.1, load: 0.4, machine: 1.9 }, 2)).toBe(
      'machine CPU (hub 0.40, load 0.40, other processes 1.10 of 2)',
    );
  });
});

describe('renderTable', () => {
  it('shows failures as FAIL with their reasons', () => {
    const text = renderTable(
      [{ id: 'a', label: 'fan-out', unit: 'deliveries/s', higherIsBetter: true, goal: 0.8, baseline: m(1000), cast: m(900, ['3 lost']) }],
      2,
    );
    expect(text).toContain('FAIL');
    expect(text).toContain('cast: 3 lost');
    expect(text).toContain('0.90×');
  });
});
