import { describe, expect, it } from 'vitest';
import { describeRuntime, parseRuntime, runtimeBetween } from './hub-runtime.js';

const scrape = (gcMinor: number[], gcMajor: number[], p99: number, max: number) => {
  const kind = (name: string, counts: number[]) => {
    const [le1ms, le10ms, total] = counts as [number, number, number];
    return [
      `nodejs_gc_duration_seconds_bucket{kind="${name}",le="0.001"} ${le1ms}`,
      `nodejs_gc_duration_seconds_bucket{kind="${name}",le="0.01"} ${le10ms}`,
      `nodejs_gc_duration_seconds_bucket{kind="${name}",le="+Inf"} ${total}`,
      `nodejs_gc_duration_seconds_sum{kind="${name}"} ${total * 0.004}`,
      `nodejs_gc_duration_seconds_count{kind="${name}"} ${total}`,
    ];
  };
  return [
    '# HELP cast_connections x',
    'cast_connections{broker="memory"} 3',
    '# TYPE nodejs_gc_duration_seconds histogram',
    ...kind('minor', gcMinor),
    ...kind('major', gcMajor),
    '# TYPE cast_event_loop_delay_seconds summary',
    'cast_event_loop_delay_seconds{quantile="0.5"} 0.0002',
    `cast_event_loop_delay_seconds{quantile="0.99"} ${p99}`,
    'cast_event_loop_delay_seconds_sum 1.5',
    'cast_event_loop_delay_seconds_count 900',
    `cast_event_loop_delay_max_seconds ${max}`,
    '',
  ].join('\n');
};

describe('hub runtime figures', () => {
  it('reads the loop delay and the GC pauses of a scrape', () => {
    expect(parseRuntime(scrape([8, 10, 10], [0, 1, 3], 0.012, 0.048))).toEqual({
      loopP99Ms: 12,
      loopMaxMs: 48,
      gcCount: 13,
      gcMs: expect.closeTo(52, 6),
      gcOver10Ms: 2,
    });
  });

  it('says nothing of a hub without them', () => {
    expect(parseRuntime('# HELP cast_connections x\ncast_connections 1\n')).toBeUndefined();
    expect(parseRuntime('Not Found')).toBeUndefined();
  });

  it('takes the GC pauses between two scrapes and the loop delay of the second', () => {
    const before = parseRuntime(scrape([8, 10, 10], [0, 1, 3], 0.5, 0.9))!;
    const after = parseRuntime(scrape([20, 25, 25], [0, 1, 6], 0.01, 0.031))!;
    const r = runtimeBetween(before, after);
    expect(r).toEqual({ loopP99Ms: 10, loopMaxMs: 31, gcCount: 18, gcMs: expect.closeTo(72, 6), gcOver10Ms: 3 });
    expect(describeRuntime(r)).toBe('loop p99 10.0 / max 31.0 ms, gc 72 ms in 18 pauses (3 over 10 ms)');
  });
});
