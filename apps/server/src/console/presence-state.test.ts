import { describe, expect, it } from 'vitest';
import { createPresenceState } from '../../console-ui/presence-state.js';

const ada = { userId: 'ada', userInfo: { name: 'Ada' } };
const bob = { userId: 'bob', userInfo: null };

function members(state: ReturnType<typeof createPresenceState>, channel: string): unknown[] | undefined {
  const found = state.channels.get(channel);
  return found && [...found.values()];
}

describe('console presence state', () => {
  it('takes the members from presence.sync, then follows joins and leaves', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    expect(state.apply('presence.sync', { channel: 'room:1', members: [{ ...ada, connections: 2 }] })).toBe(true);
    expect(members(state, 'room:1')).toEqual([ada]);
    expect(state.apply('presence.join', { channel: 'room:1', ...bob })).toBe(true);
    expect(members(state, 'room:1')).toEqual([ada, bob]);
    expect(state.apply('presence.leave', { channel: 'room:1', ...ada })).toBe(true);
    expect(members(state, 'room:1')).toEqual([bob]);
  });

  it('replaces the members on a new sync (after a resume the server could not replay)', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    state.apply('presence.sync', { channel: 'room:1', members: [ada, bob] });
    state.apply('presence.sync', { channel: 'room:1', members: [bob] });
    expect(members(state, 'room:1')).toEqual([bob]);
  });

  it('knows nothing of a channel before its sync, and ignores changes that come first', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    expect(state.channels.has('room:1')).toBe(false);
    expect(state.apply('presence.join', { channel: 'room:1', ...ada })).toBe(false);
    expect(state.channels.has('room:1')).toBe(false);
  });

  it('ignores other channels, other events and malformed data', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    state.apply('presence.sync', { channel: 'room:1', members: [ada] });
    expect(state.apply('presence.join', { channel: 'room:2', ...bob })).toBe(false);
    expect(state.apply('order.created', { channel: 'room:1', userId: 'bob' })).toBe(false);
    expect(state.apply('presence.join', { channel: 'room:1' })).toBe(false);
    expect(state.apply('presence.sync', { channel: 'room:1', members: 'everyone' })).toBe(false);
    expect(state.apply('presence.join', 'bob')).toBe(false);
    expect(state.apply('presence.leave', { channel: 'room:1', userId: 'nobody' })).toBe(false);
    expect(members(state, 'room:1')).toEqual([ada]);
  });

  it('keeps userInfo only when it is an object', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    state.apply('presence.sync', { channel: 'room:1', members: [{ userId: 'x', userInfo: 'not an object' }] });
    expect(members(state, 'room:1')).toEqual([{ userId: 'x', userInfo: null }]);
  });

  it('forgets everything on reset', () => {
    const state = createPresenceState();
    state.reset(['room:1']);
    state.apply('presence.sync', { channel: 'room:1', members: [ada] });
    state.reset(['room:2']);
    expect(state.channels.size).toBe(0);
    expect(state.apply('presence.sync', { channel: 'room:1', members: [ada] })).toBe(false);
  });
});
