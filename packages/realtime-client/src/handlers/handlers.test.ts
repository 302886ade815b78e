import { describe, expect, it, vi } from 'vitest';
import type { RealtimeEvent } from '../types.js';
import { createHandlers } from './index.js';

const event = (type: string): RealtimeEvent => ({ type, data: null, id: undefined, channel: undefined });

describe('createHandlers', () => {
  it('routes exact names, prefix wildcards and * to the matching handlers only', () => {
    const [handlers, events] = createHandlers();
    const seen: string[] = [];
    handlers.on('ticket.created', (e) => seen.push(`exact:${e.type}`));
    handlers.on('ticket.*', (e) => seen.push(`prefix:${e.type}`));
    handlers.on('*', (e) => seen.push(`all:${e.type}`));
    handlers.onAny((e) => seen.push(`any:${e.type}`));
    events.emit(event('ticket.created'));
    events.emit(event('ticket'));
    events.emit(event('tickets.created'));
    expect(seen).toEqual([
      'exact:ticket.created',
      'prefix:ticket.created',
      'all:ticket.created',
      'any:ticket.created',
      'all:ticket',
      'any:ticket',
      'all:tickets.created',
      'any:tickets.created',
    ]);
  });

  it('unsubscribes one registration at a time, even of the same function', () => {
    const [handlers, events] = createHandlers();
    const fn = vi.fn();
    const off1 = handlers.on('a', fn);
    handlers.on('a', fn);
    off1();
    off1();
    events.emit(event('a'));
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('empties every list and the presence store with clear', () => {
    const [handlers, events, stateListeners, connectionListeners, errorListeners, resumeListeners, presence, clear] =
      createHandlers();
    const fn = vi.fn();
    handlers.on('a', fn);
    handlers.onStateChange(fn);
    handlers.onConnectionChange(fn);
    handlers.onError(fn);
    handlers.onResume(fn);
    const members = vi.fn();
    handlers.presence('room').onChange(members);
    clear();
    events.emit(event('a'));
    for (const list of [stateListeners, connectionListeners, errorListeners, resumeListeners])
      expect(list.size).toBe(0);
    presence.apply('presence.sync', { channel: 'room', members: [{ userId: 'ada', userInfo: null, connections: 1 }] });
    expect(fn).not.toHaveBeenCalled();
    expect(members).not.toHaveBeenCalled();
  });
});
