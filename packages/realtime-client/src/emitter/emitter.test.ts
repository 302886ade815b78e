import { afterEach, describe, expect, it, vi } from 'vitest';
import { createListeners } from './index.js';

afterEach(() => vi.restoreAllMocks());

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
