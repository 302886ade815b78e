import type { EventPosition } from '@cast/protocol';

/**
 * The next position after `last` at time `t`: `<t>-0` when the clock moved
 * on, else `<last.ms>-<last.seq + 1>` (also when the clock went backwards, so
 * positions never decrease).
 */
export function positionAfter(last: EventPosition, t: number): EventPosition {
  return t > last.ms ? { ms: t, seq: 0 } : { ms: last.ms, seq: last.seq + 1 };
}
