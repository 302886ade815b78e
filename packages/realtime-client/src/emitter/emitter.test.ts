import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventRouter, createListeners } from './index.js';

afterEach(() => vi.restoreAllMocks());

describe('createEventRouter', () => {
  it('routes exact names, prefix wildcards and * to the matching handlers only', () => {
    const router = createEventRouter<{ type: string }>();
    const seen: string[] = [];
    router.on('ticket.created', (e) => seen.push(`exact:${e.type}`));
    router.on('ticket.*', (e) => seen.push(`prefix:${e.type}`));
    router.on('*', (e) => seen.push(`all:${e.type}`));
    router.emit({ type: 'ticket.created' });
    router.emit({ type: 'ticket' });
    router.emit({ type: 'tickets.created' });
    expect(seen).toEqual([
      'exact:ticket.created',
      'prefix:ticket.created',
      'all:ticket.created',
      'all:ticket',
      'all:tickets.created',
    ]);
  });

  it('unsubscribes one registration at a time, even of the same function', () => {
    const router = createEventRouter<{ type: string }>();
    const fn = vi.fn();
    const off1 = router.on('a', fn);
    router.on('a', fn);
    off1();
    off1();
    router.emit({ type: 'a' });
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('createListeners', () => {
  it('keeps calling the other handlers when one throws, and reports the throw', () => {
    const report = vi.fn();
    vi.stubGlobal('reportError', report);
    const list = createListeners<[number]>();
    const after = vi.fn();
    list.add(() => {
      throw new Error('app bug');
    });
    list.add(after);
    list.emit(1);
    expect(after).toHaveBeenCalledWith(1);
    expect(report).toHaveBeenCalledWith(expect.objectContaining({ message: 'app bug' }));
    vi.unstubAllGlobals();
  });

  it('calls a snapshot: a handler removed during emit still gets this emit, not the next', () => {
    const list = createListeners<[]>();
    const second = vi.fn();
    let off2 = () => {};
    list.add(() => off2());
    off2 = list.add(second);
    list.emit();
    list.emit();
    expect(second).toHaveBeenCalledTimes(1);
    expect(list.size).toBe(1);
  });
});
