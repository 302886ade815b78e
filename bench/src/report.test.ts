import { describe, expect, it } from 'vitest';
import { type Figure, bestPeer, goalText, limitOf, meetsGoal, peerRatioOf, ratioOf, renderTable } from './report.js';

const m = (value: number, failures: string[] = []) => ({ value, detail: {}, failures });

describe('ratioOf / meetsGoal', () => {
  it('divides Cast by the baseline and checks the goal in the right direction', () => {
    const up: Figure = {
      id: 'a',
      label: 'a',
      unit: '/s',
      higherIsBetter: true,
      goal: 0.8,
      baseline: m(100),
      cast: m(85),
    };
    expect(ratioOf(up)).toBeCloseTo(0.85);
    expect(meetsGoal(up)).toBe(true);
    const down: Figure = {
      id: 'b',
      label: 'b',
      unit: 'ms',
      higherIsBetter: false,
      goal: 1.25,
      baseline: m(10),
      cast: m(13),
    };
    expect(meetsGoal(down)).toBe(false);
  });

  it('checks a goal against the best peer, alone or with the baseline goal', () => {
    /** A figure of the given direction and goals, the rest shared by every case here. */
    const fig = (higherIsBetter: boolean, rest: Partial<Figure>): Figure => ({
      id: 'f',
      label: 'f',
      unit: higherIsBetter ? '/s' : 'KiB',
      higherIsBetter,
      ...rest,
    });
    const lean = fig(false, {
      peerGoal: 1,
      baseline: m(12),
      'better-sse': m(20),
      'sse-channel': m(11.5),
      cast: m(11.8),
    });
    expect(meetsGoal(lean)).toBe(false);
    expect(meetsGoal({ ...lean, cast: m(11.4) })).toBe(true);
    expect(goalText(lean)).toBe('≤ 1× peer');
    const both = fig(true, { goal: 0.8, peerGoal: 1.5, baseline: m(100), 'better-sse': m(80), cast: m(90) });
    expect(meetsGoal(both)).toBe(false);
    expect(meetsGoal({ ...both, 'better-sse': m(50) })).toBe(true);
    expect(meetsGoal({ ...both, baseline: m(200), 'better-sse': m(50) })).toBe(false);
    expect(goalText(both)).toBe('≥ 0.8× baseline, ≥ 1.5× peer');
    expect(goalText({ ...both, higherIsBetter: false, goal: 1.25, peerGoal: 1 / 1.5 })).toBe(
      '≤ 1.25× baseline, ≤ 0.67× peer',
    );
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

  it('names Redis when the hub is not saturated and Redis is', () => {
    expect(limitOf({ hubUser: 0.5, hubSystem: 0.2, load: 0.3, redis: 0.95 }, 4)).toBe('Redis CPU (0.95; hub 0.70)');
    expect(limitOf({ hubUser: 0.7, hubSystem: 0.25, load: 0.3, redis: 0.95 }, 4)).toMatch(/^hub CPU/);
    expect(limitOf({ hubUser: 0.5, hubSystem: 0.2, load: 0.3, redis: 0.4 }, 4)).toMatch(/^not CPU-bound/);
  });
});

describe('renderTable', () => {
  it('shows failures as FAIL with their reasons', () => {
    const text = renderTable(
      [
        {
          id: 'a',
          label: 'fan-out',
          unit: 'deliveries/s',
          higherIsBetter: true,
          goal: 0.8,
          baseline: m(1000),
          cast: m(900, ['3 lost']),
        },
      ],
      2,
    );
    expect(text).toContain('FAIL');
    expect(text).toContain('cast: 3 lost');
    expect(text).toContain('0.90×');
  });
});

describe('bestPeer / peerRatioOf', () => {
  it('takes the faster peer for rates and the lower one for latencies, skipping failed ones', () => {
    const rate: Figure = {
      id: 'p',
      label: 'p',
      unit: '/s',
      higherIsBetter: true,
      baseline: m(100),
      'better-sse': m(40),
      'sse-channel': m(50),
      cast: m(90),
    };
    expect(bestPeer(rate)).toEqual({ name: 'sse-channel', value: 50 });
    expect(peerRatioOf(rate)).toBeCloseTo(1.8);
    const latency: Figure = {
      id: 'l',
      label: 'l',
      unit: 'ms',
      higherIsBetter: false,
      'better-sse': m(9000),
      'sse-channel': m(4000, ['p99 over the bound']),
      cast: m(200),
    };
    expect(bestPeer(latency)).toEqual({ name: 'better-sse', value: 9000 });
    expect(peerRatioOf(latency)).toBeCloseTo(200 / 9000);
  });

  it('has no peer ratio when no peer was measured', () => {
    expect(
      peerRatioOf({ id: 'a', label: 'a', unit: '/s', higherIsBetter: true, baseline: m(1), cast: m(1) }),
    ).toBeNaN();
  });

  it('shows a column per measured target and both ratios; a peer failure is a note, not FAIL', () => {
    const text = renderTable(
      [
        {
          id: 'a',
          label: 'publish',
          unit: 'requests/s',
          higherIsBetter: true,
          goal: 0.8,
          baseline: m(1000),
          'better-sse': m(400),
          'sse-channel': m(300, ['2 lost']),
          cast: m(900),
        },
      ],
      2,
    );
    expect(text.split('\n')[0]).toMatch(/baseline\s+better-sse\s+sse-channel\s+cast\s+× baseline\s+× best peer/);
    expect(text).toContain('0.90×');
    expect(text).toContain('2.25× better-sse');
    expect(text).toContain('· sse-channel: 2 lost');
    expect(text).not.toContain('FAIL');
  });
});
