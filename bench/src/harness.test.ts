import { describe, expect, it } from 'vitest';
import { type ProcSample, costPerRequest, cpuBetween } from './harness.js';

const sample = (userMs: number, systemMs: number, at: number): ProcSample => ({ userMs, systemMs, rssBytes: 0, at });

describe('cpuBetween', () => {
  it('gives user, kernel and total CPU as shares of one core', () => {
    expect(cpuBetween(sample(100, 50, 1000), sample(400, 150, 2000))).toEqual({ user: 0.3, system: 0.1, total: 0.4 });
  });
});

describe('costPerRequest', () => {
  it('divides user and kernel time by the requests answered', () => {
    // 1.2 s of CPU over 3 s of wall time, 24,000 requests: 50 µs each, 0.4 of a core.
    const cost = costPerRequest(sample(1000, 500, 0), sample(1900, 800, 3000), 24_000);
    expect(cost.us).toBeCloseTo(50, 9);
    expect(cost.share).toBeCloseTo(0.4, 9);
  });

  it('has no cost per request without requests', () => {
    expect(costPerRequest(sample(0, 0, 0), sample(10, 0, 1000), 0).us).toBeNaN();
  });
});
