import { describe, expect, it } from 'vitest';
import { covers, type Revocation, RevocationList, revocationFromMember, revocationMember } from './list.js';

const tok = (issuedAt: number, userId: string | null = 'u1', tokenId = 't1') => ({ tokenId, userId, issuedAt });

describe('RevocationList', () => {
  it('covers what each kind of revocation covers, with the issue time strictly before', () => {
    const list = new RevocationList(60_000);
    list.add({ kind: 'user', userId: 'u1', before: 1000 });
    list.add({ kind: 'token', tokenId: 'only', at: 5 });
    expect(list.covers(tok(999))).toBe(true);
    expect(list.covers(tok(1000))).toBe(false);
    expect(list.covers(tok(999, 'u2'))).toBe(false);
    expect(list.covers(tok(10_000, 'u2', 'only'))).toBe(true);
    expect(list.covers({ tokenId: undefined, userId: null, issuedAt: 0 })).toBe(false);
    list.add({ kind: 'all', before: 500 });
    expect(list.covers(tok(499, null, 'x'))).toBe(true);
    expect(list.covers(tok(500, null, 'x'))).toBe(false);
  });

  it('keeps the latest time per token, user and tenant, and says when it changed', () => {
    const list = new RevocationList(60_000);
    expect(list.add({ kind: 'user', userId: 'u1', before: 1000 })).toBe(true);
    expect(list.add({ kind: 'user', userId: 'u1', before: 900 })).toBe(false);
    expect(list.add({ kind: 'user', userId: 'u1', before: 1000 })).toBe(false);
    expect(list.add({ kind: 'user', userId: 'u1', before: 2000 })).toBe(true);
    expect(list.add({ kind: 'all', before: 10 })).toBe(true);
    expect(list.add({ kind: 'all', before: 5 })).toBe(false);
    expect(list.size).toBe(2);
    expect([...list.entries()]).toEqual([
      { kind: 'user', userId: 'u1', before: 2000 },
      { kind: 'all', before: 10 },
    ]);
  });

  it('forgets revocations older than the longest token lifetime', () => {
    const list = new RevocationList(60_000);
    list.add({ kind: 'user', userId: 'old', before: 1000 });
    list.add({ kind: 'token', tokenId: 'old', at: 1000 });
    list.add({ kind: 'all', before: 1000 });
    list.add({ kind: 'user', userId: 'new', before: 2000 });
    list.prune(61_000);
    expect(list.size).toBe(4);
    list.prune(61_001);
    expect([...list.entries()]).toEqual([{ kind: 'user', userId: 'new', before: 2000 }]);
  });
});

describe('revocation members', () => {
  it('round-trips every kind through its stored member and time, user ids with colons included', () => {
    const all: Revocation[] = [
      { kind: 'token', tokenId: 'a:b', at: 1 },
      { kind: 'user', userId: 'org:42:user', before: 2 },
      { kind: 'all', before: 3 },
    ];
    for (const r of all) {
      const time = r.kind === 'token' ? r.at : r.before;
      expect(revocationFromMember(revocationMember(r), time)).toEqual(r);
      expect(covers(r, tok(0, r.kind === 'user' ? r.userId : null, r.kind === 'token' ? r.tokenId : 'z'))).toBe(true);
    }
    expect(revocationFromMember('x:1', 1)).toBeUndefined();
    expect(revocationFromMember('u:', 1)).toBeUndefined();
    expect(revocationFromMember('*', Number.NaN)).toBeUndefined();
  });
});
