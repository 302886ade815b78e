import type { PresenceMember } from '@cast/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRealtime } from '../realtime/index.js';
import { FAKED_TIMERS, connectedFrame, createFakeFetch, eventFrame, settle } from '../testing/fake-fetch.js';

const ada: PresenceMember = { userId: 'ada', userInfo: { name: 'Ada' }, connections: 2 };
const bob: PresenceMember = { userId: 'bob', userInfo: null, connections: 1 };

function setup() {
  const server = createFakeFetch();
  const realtime = createRealtime({ url: 'http://cast.test', token: 'tok', fetch: server.fetch });
  const errors: unknown[] = [];
  realtime.onError((e) => errors.push(e));
  return { server, realtime, errors };
}

async function accept(server: ReturnType<typeof createFakeFetch>, data?: Record<string, unknown>) {
  await settle();
  const stream = server.last.respond();
  stream.push(connectedFrame(data));
  await settle();
  return stream;
}

const sync = (pos: string, channel: string, members: PresenceMember[]) =>
  eventFrame(pos, channel, 'presence.sync', { channel, members });
const join = (pos: string, channel: string, userId: string, userInfo: Record<string, unknown> | null = null) =>
  eventFrame(pos, channel, 'presence.join', { channel, userId, userInfo });
const leave = (pos: string, channel: string, userId: string) =>
  eventFrame(pos, channel, 'presence.leave', { channel, userId, userInfo: null });
const ids = (members: readonly PresenceMember[]) => members.map((m) => m.userId);

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('realtime.presence(channel)', () => {
  it('starts empty and unsynced, then follows sync, joins and leaves of its channel only', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    expect(realtime.presence('room:1')).toBe(room);
    expect(room).toMatchObject({ channel: 'room:1', members: [], synced: false });
    const changes: string[][] = [];
    room.onChange((members) => changes.push(ids(members)));
    const stream = await accept(server, { channels: ['room:1', 'room:2'] });
    stream.push(sync('1-0', 'room:1', [ada]));
    stream.push(sync('1-1', 'room:2', [bob]));
    stream.push(join('1-2', 'room:1', 'bob', { name: 'Bob' }));
    stream.push(join('1-3', 'room:2', 'carol'));
    stream.push(leave('1-4', 'room:1', 'ada'));
    await settle();
    expect(room.synced).toBe(true);
    expect(changes).toEqual([['ada'], ['ada', 'bob'], ['bob']]);
    expect(room.members).toEqual([{ userId: 'bob', userInfo: { name: 'Bob' }, connections: 1 }]);
    expect(ids(realtime.presence('room:2').members)).toEqual(['bob', 'carol']);
  });

  it('keeps the sync of every channel of the stream, though they share one position (the snapshot’s)', async () => {
    const { server, realtime } = setup();
    const stream = await accept(server, { channels: ['room:1', 'room:2'] });
    stream.push(sync('4-2', 'room:1', [ada]));
    stream.push(sync('4-2', 'room:2', [bob]));
    stream.push(join('4-3', 'room:2', 'carol'));
    // A replayed event at or before the last position is still dropped.
    stream.push(join('4-2', 'room:1', 'dan'));
    await settle();
    expect(realtime.presence('room:1')).toMatchObject({ synced: true, members: [ada] });
    expect(realtime.presence('room:2').synced).toBe(true);
    expect(ids(realtime.presence('room:2').members)).toEqual(['bob', 'carol']);
  });

  it('hands out a new frozen array on each change, and the same one between changes', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const stream = await accept(server);
    stream.push(sync('1-0', 'room:1', [ada]));
    await settle();
    const before = room.members;
    expect(room.members).toBe(before);
    expect(Object.isFrozen(before)).toBe(true);
    stream.push(join('1-1', 'room:1', 'bob'));
    await settle();
    expect(room.members).not.toBe(before);
    expect(ids(before)).toEqual(['ada']);
  });

  it('replaces the members on every sync, and a leave of someone absent changes nothing', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const onChange = vi.fn();
    room.onChange(onChange);
    const stream = await accept(server);
    stream.push(sync('1-0', 'room:1', [ada, bob]));
    stream.push(leave('1-1', 'room:1', 'nobody'));
    stream.push(sync('1-2', 'room:1', [bob]));
    await settle();
    expect(onChange).toHaveBeenCalledTimes(2);
    expect(room.members).toEqual([bob]);
  });

  it('ignores joins and leaves before the first sync', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const stream = await accept(server);
    stream.push(join('1-0', 'room:1', 'bob'));
    await settle();
    expect(room.members).toEqual([]);
    stream.push(sync('1-1', 'room:1', [ada]));
    await settle();
    expect(room.members).toEqual([ada]);
  });

  it('still hands presence events to on() handlers', async () => {
    const { server, realtime } = setup();
    const seen = vi.fn();
    realtime.on('presence.*', (e) => seen(e.type, e.channel));
    const stream = await accept(server);
    stream.push(sync('1-0', 'room:1', []));
    stream.push(join('1-1', 'room:1', 'bob'));
    await settle();
    expect(seen.mock.calls).toEqual([
      ['presence.sync', 'room:1'],
      ['presence.join', 'room:1'],
    ]);
  });

  it('keeps its members across a recovered resume, applying the replayed changes once', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const stream = await accept(server);
    stream.push(sync('1-0', 'room:1', [ada]));
    stream.push(join('1-1', 'room:1', 'bob'));
    await settle();
    stream.error(new TypeError('terminated'));
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.last.headers['last-event-id']).toBe('1-1/room:1');
    const resumed = await accept(server, { channels: ['room:1'], recovered: true });
    // An overlapping replay of the join is dropped; the leave after it applies.
    resumed.push(join('1-1', 'room:1', 'bob'));
    resumed.push(leave('1-2', 'room:1', 'ada'));
    await settle();
    expect(room.synced).toBe(true);
    expect(room.members).toEqual([{ userId: 'bob', userInfo: null, connections: 1 }]);
  });

  it('after a resume with recovered: false, waits for the next sync and ignores changes until then', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const stream = await accept(server);
    stream.push(sync('5-0', 'room:1', [ada]));
    await settle();
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    const resumed = await accept(server, { channels: ['room:1'], recovered: false });
    expect(room.synced).toBe(false);
    // A change seen before the sync could double-count what the sync already holds.
    resumed.push(join('1-0', 'room:1', 'carol'));
    await settle();
    expect(ids(room.members)).toEqual(['ada']);
    // The new server's positions are lower than the old id, and still accepted.
    resumed.push(sync('1-1', 'room:1', [bob]));
    resumed.push(join('1-2', 'room:1', 'dan'));
    await settle();
    expect(room.synced).toBe(true);
    expect(ids(room.members)).toEqual(['bob', 'dan']);
  });

  it('stops calling onChange handlers after unsubscribe and after destroy()', async () => {
    const { server, realtime } = setup();
    const room = realtime.presence('room:1');
    const kept = vi.fn();
    const dropped = vi.fn();
    room.onChange(kept);
    room.onChange(dropped)();
    const stream = await accept(server);
    stream.push(sync('1-0', 'room:1', [ada]));
    await settle();
    expect(kept).toHaveBeenCalledTimes(1);
    expect(dropped).not.toHaveBeenCalled();
    realtime.destroy();
    expect(ids(room.members)).toEqual(['ada']);
  });

  it('ignores presence data without a channel', async () => {
    const { server, realtime, errors } = setup();
    const stream = await accept(server);
    stream.push('id: 1-0/room:1\nevent: presence.sync\ndata: {"members":[]}\n\n');
    stream.push('id: 1-1/room:1\nevent: presence.join\ndata: null\n\n');
    await settle();
    expect(realtime.presence('room:1').synced).toBe(false);
    expect(errors).toEqual([]);
  });
});
