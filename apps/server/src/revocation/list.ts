/**
 * One revocation of a tenant (`POST /push/revoke`). Each covers the tokens
 * issued strictly before a time, so a token issued afterwards (the user
 * signed in again) works:
 * - `token`: the one token with that `jti`, whenever it was issued (`at` is
 *   when it was revoked, for expiry only);
 * - `user`: every token of that user issued before `before`;
 * - `all`: every token of the tenant issued before `before`.
 */
export type Revocation =
  | { kind: 'token'; tokenId: string; at: number }
  | { kind: 'user'; userId: string; before: number }
  | { kind: 'all'; before: number };

/** What a revocation is compared against: a token's id, user and issue time (ms). */
export interface RevocableToken {
  readonly tokenId: string | undefined;
  readonly userId: string | null | undefined;
  readonly issuedAt: number;
}

/**
 * Whether one revocation covers a token.
 *
 * @param r - the revocation
 * @param token - the token's id, user and issue time (ms)
 * @returns true when a stream of that token must end and the token be refused
 * @example
 * ```ts
 * covers({ kind: 'user', userId: 'u1', before: 2000 }, { tokenId: 't', userId: 'u1', issuedAt: 1999 }) // true
 * ```
 */
export function covers(r: Revocation, token: RevocableToken): boolean {
  switch (r.kind) {
    case 'token':
      return token.tokenId !== undefined && token.tokenId === r.tokenId;
    case 'user':
      return token.userId === r.userId && token.issuedAt < r.before;
    case 'all':
      return token.issuedAt < r.before;
  }
}

/**
 * The time a revocation is kept from: it stops mattering one longest token
 * lifetime later.
 *
 * @example
 * ```ts
 * revocationTime({ kind: 'token', tokenId: 't1', at: 1000 }) // 1000
 * ```
 */
export function revocationTime(r: Revocation): number {
  return r.kind === 'token' ? r.at : r.before;
}

/**
 * A revocation's member name in a stored set: one per token, one per user,
 * one for the whole tenant. A later revocation of the same member replaces an
 * earlier one when its time is later.
 *
 * @example
 * ```ts
 * revocationMember({ kind: 'user', userId: 'u1', before: 1000 }) // 'u:u1'
 * ```
 */
export function revocationMember(r: Revocation): string {
  return r.kind === 'token' ? `t:${r.tokenId}` : r.kind === 'user' ? `u:${r.userId}` : '*';
}

/**
 * The revocation a stored member and time stand for, or undefined for a malformed member.
 *
 * @example
 * ```ts
 * revocationFromMember('u:u1', 1000) // { kind: 'user', userId: 'u1', before: 1000 }
 * ```
 */
export function revocationFromMember(member: string, time: number): Revocation | undefined {
  if (!Number.isFinite(time)) return undefined;
  if (member === '*') return { kind: 'all', before: time };
  if (member.startsWith('t:') && member.length > 2) return { kind: 'token', tokenId: member.slice(2), at: time };
  if (member.startsWith('u:') && member.length > 2) return { kind: 'user', userId: member.slice(2), before: time };
  return undefined;
}

/** The most revocations a tenant holds at once (within one max token lifetime). */
export const MAX_REVOCATIONS_PER_TENANT = 100_000;

/** What a stream open checks a token against. */
export interface Revocations {
  /** Whether a token is revoked. */
  covers(token: RevocableToken): boolean;
}

/** The revocations of a tenant that has none. */
export const NO_REVOCATIONS: Revocations = { covers: () => false };

/**
 * The revocations of one tenant that can still matter: each is kept only
 * while a token it covers could still be valid (its time plus the longest
 * token lifetime), so the list is bounded by what was revoked within one max
 * TTL. Both brokers keep one per tenant (the Redis broker as a local mirror).
 *
 * @example
 * ```ts
 * const list = new RevocationList(86_400_000)
 * list.add({ kind: 'user', userId: 'u1', before: Date.now() })
 * list.covers({ tokenId: 't1', userId: 'u1', issuedAt: Date.now() - 5000 }) // true
 * ```
 */
export class RevocationList implements Revocations {
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, number>();
  private all = Number.NEGATIVE_INFINITY;

  /** @param ttlMs - the longest token lifetime, ms: how long a revocation is kept after its time */
  constructor(private readonly ttlMs: number) {}

  /** Revocations held (tokens, users and the tenant-wide one). */
  get size(): number {
    return this.tokens.size + this.users.size + (this.all === Number.NEGATIVE_INFINITY ? 0 : 1);
  }

  /**
   * Adds a revocation; a later time for the same token, user or tenant
   * replaces an earlier one. Returns whether the list changed.
   */
  add(r: Revocation): boolean {
    if (r.kind === 'all') {
      if (r.before <= this.all) return false;
      this.all = r.before;
      return true;
    }
    const map = r.kind === 'token' ? this.tokens : this.users;
    const key = r.kind === 'token' ? r.tokenId : r.userId;
    const time = revocationTime(r);
    const held = map.get(key);
    if (held !== undefined && held >= time) return false;
    map.set(key, time);
    return true;
  }

  /** Whether the list holds this token, user or the tenant-wide revocation already (at any time). */
  has(r: Revocation): boolean {
    if (r.kind === 'all') return this.all !== Number.NEGATIVE_INFINITY;
    return r.kind === 'token' ? this.tokens.has(r.tokenId) : this.users.has(r.userId);
  }

  /** Whether a token is revoked. */
  covers(token: RevocableToken): boolean {
    if (token.issuedAt < this.all) return true;
    if (token.tokenId !== undefined && this.tokens.has(token.tokenId)) return true;
    if (token.userId !== undefined && token.userId !== null) {
      const before = this.users.get(token.userId);
      if (before !== undefined && token.issuedAt < before) return true;
    }
    return false;
  }

  /** Forgets the revocations that no token still valid at `now` can match. */
  prune(now: number): void {
    const oldest = now - this.ttlMs;
    for (const [id, at] of this.tokens) if (at < oldest) this.tokens.delete(id);
    for (const [user, before] of this.users) if (before < oldest) this.users.delete(user);
    if (this.all < oldest) this.all = Number.NEGATIVE_INFINITY;
  }

  /** Every revocation held. */
  *entries(): IterableIterator<Revocation> {
    for (const [tokenId, at] of this.tokens) yield { kind: 'token', tokenId, at };
    for (const [userId, before] of this.users) yield { kind: 'user', userId, before };
    if (this.all !== Number.NEGATIVE_INFINITY) yield { kind: 'all', before: this.all };
  }
}
