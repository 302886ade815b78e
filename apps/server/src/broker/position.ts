import { parsePosition } from '@cast/protocol';

/** A parsed log position. */
export interface Position {
  ms: number;
  seq: number;
}

/**
 * The next position after `last` at time `t`: `<t>-0` when the clock moved
 * on, else `<last.ms>-<last.seq + 1>` (also when the clock went backwards, so
 * positions never decrease).
 */
export function positionAfter(last: Position, t: number): Position {
  return t > last.ms ? { ms: t, seq: 0 } : { ms: last.ms, seq: last.seq + 1 };
}

/** Orders two positions. */
export function comparePosition(a: Position, b: Position): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq;
}

/** Parses a stored position `<ms>-<seq>`. */
export function parseStoredPosition(value: string): Position | undefined {
  return parsePosition(value);
}
