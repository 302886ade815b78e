/**
 * The Redis key layout of one cluster. Every key starts with the prefix
 * (CAST_REDIS_PREFIX) so several clusters or test runs share one Redis
 * without meeting. A tenant's keys carry the tenant in braces, the Redis
 * Cluster hash-tag syntax, so they stay together.
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `<p>:epoch` | string | when this Redis dataset began (ms); a new value means the data was lost |
 * | `<p>:nodes` | sorted set | node id → last heartbeat (ms) |
 * | `<p>:{<t>}:epoch` | string | on a Redis Cluster: when the tenant's shard began holding it (the scripts' epoch) |
 * | `<p>:{<t>}:nodes` | sorted set | on a Redis Cluster: the nodes with streams of the tenant → last heartbeat (the scripts' node list) |
 * | `<p>:{<t>}:log` | stream | the tenant's replay log; entry ids are the positions |
 * | `<p>:{<t>}:meta` | hash | `floor` (events at or before it may be gone), `last` (newest position), `bytes` (the log's size against the byte cap) |
 * | `<p>:{<t>}:live` | sharded pub/sub channel | every event of the tenant, published with the append |
 * | `<p>:{<t>}:idem:<key>` | string | the first answer to an idempotency key and a digest of its request, for the window |
 * | `<p>:{<t>}:idem` | sorted set | idempotency key → when it was set, to forget the oldest past the count or byte bound |
 * | `<p>:{<t>}:idemsize` | hash | idempotency key → the bytes it holds in Redis; `''` → their sum (against the byte bound) |
 * | `<p>:{<t>}:sess:<node>` | hash | session id → session JSON, for one node |
 * | `<p>:{<t>}:subs:<node>` | hash | channel → connections on one node; `<channel> #` → those of them that filter by type, `<channel> <pattern>` → those whose filter has that pattern |
 * | `<p>:{<t>}:revoked` | sorted set | `t:<jti>` / `u:<userId>` / `*` → revocation time (ms); expires a max token TTL after the last write |
 * | `<p>:{<t>}:ctl` | sharded pub/sub channel | control messages for every node with streams of the tenant (revoke, disconnect) |
 * | `<p>:replies:<node>` | sharded pub/sub channel | the nodes' answers to a control message one node sent |
 * | `<p>:{<t>}:pn:<node>` | hash | one node's presence part: `o|<channel>`, `u|<channel>|<user>` (see `PRESENCE_SCRIPT`) |
 * | `<p>:{<t>}:occ`, `occz`, `chs` | hash, hash, sorted set | occupied channels: nodes holding each, when it emptied, names for paging |
 * | `<p>:{<t>}:pu:<ch>`, `pz:<ch>`, `pi:<ch>` | hashes | a channel's members: streams, when they reached 0, join data |
 * | `<p>:pnodes`, `<p>:ptenants:<node>` | sets | nodes holding a presence part, and their tenants (for reaping) |
 */
export interface RedisKeys {
  readonly prefix: string;
  readonly epoch: string;
  readonly nodes: string;
  /**
   * The epoch the tenant's scripts read: the dataset's (`epoch`) on one Redis,
   * the tenant's own on a Redis Cluster, where each shard may lose its data alone.
   */
  epochOf(tenant: string): string;
  /** The live nodes the tenant's scripts read: `nodes` on one Redis, the tenant's own list on a Redis Cluster. */
  liveNodes(tenant: string): string;
  /** Everything of one tenant starts with this. */
  tenant(tenant: string): string;
  log(tenant: string): string;
  meta(tenant: string): string;
  live(tenant: string): string;
  sessions(tenant: string, node: string): string;
  subscribers(tenant: string, node: string): string;
  revocations(tenant: string): string;
  control(tenant: string): string;
  replies(node: string): string;
  /** The tenant of a `live` channel name, or undefined for another name. */
  tenantOfLive(channel: string): string | undefined;
  /** The tenant of a `ctl` channel name, or undefined for another name. */
  tenantOfControl(channel: string): string | undefined;
}

/**
 * Builds the key layout for a prefix.
 *
 * @param prefix - CAST_REDIS_PREFIX, e.g. `cast`
 * @param options.cluster - a Redis Cluster: the scripts' epoch and node list are per tenant (its slot)
 * @example
 * ```ts
 * createRedisKeys('cast').log('acme') // 'cast:{acme}:log'
 * ```
 */
export function createRedisKeys(prefix: string, options: { cluster?: boolean } = {}): RedisKeys {
  // Braces in the prefix would change the hash tag `{tenant}` that keeps a tenant on one slot.
  if (/[{}]/.test(prefix)) throw new TypeError(`The Redis key prefix must not contain "{" or "}" (got "${prefix}").`);
  const tenant = (t: string) => `${prefix}:{${t}}:`;
  const liveHead = `${prefix}:{`;
  const liveTail = '}:live';
  const controlTail = '}:ctl';
  const between = (channel: string, tail: string) =>
    channel.startsWith(liveHead) && channel.endsWith(tail)
      ? channel.slice(liveHead.length, channel.length - tail.length)
      : undefined;
  return {
    prefix,
    epoch: `${prefix}:epoch`,
    nodes: `${prefix}:nodes`,
    epochOf: (t) => (options.cluster ? `${tenant(t)}epoch` : `${prefix}:epoch`),
    liveNodes: (t) => (options.cluster ? `${tenant(t)}nodes` : `${prefix}:nodes`),
    tenant,
    log: (t) => `${tenant(t)}log`,
    meta: (t) => `${tenant(t)}meta`,
    live: (t) => `${tenant(t)}live`,
    sessions: (t, node) => `${tenant(t)}sess:${node}`,
    subscribers: (t, node) => `${tenant(t)}subs:${node}`,
    revocations: (t) => `${tenant(t)}revoked`,
    control: (t) => `${tenant(t)}ctl`,
    replies: (node) => `${prefix}:replies:${node}`,
    tenantOfLive: (channel) => between(channel, liveTail),
    tenantOfControl: (channel) => between(channel, controlTail),
  };
}
