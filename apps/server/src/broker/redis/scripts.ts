import type { CommandClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { PRESENCE_SCRIPT, SNAPSHOT_SCRIPT } from './presence-scripts.js';
import { HELPERS } from './script-helpers.js';

/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis, which
 * is what makes positions, trimming, the floor and idempotency agree across
 * nodes: two publishers on two nodes are ordered by the order their scripts
 * run, and every node sees that order on the tenant's `live` channel.
 *
 * Positions are stream ids (`<ms>-<seq>`, assigned by XADD `*`, increasing
 * per stream even when the clock steps back). The `floor` in the tenant's
 * meta hash is the newest position that may be missing from the log (the
 * last trimmed id, or "just before" the moment history starts being known):
 * a replay after position P is complete exactly when P >= floor.
 *
 * Every tenant script declares its keys (see {@link tenantKeys}): KEYS[1] the
 * epoch key, KEYS[2] the list of live nodes, KEYS[3] the tenant's meta hash,
 * KEYS[4] its log, then any more it writes. On a Redis Cluster they all carry
 * the tenant's hash tag, so ioredis sends the script to the tenant's shard
 * and Redis answers ASK or TRYAGAIN (which ioredis follows and retries)
 * instead of running it while a moving slot has the keys on two shards.
 * Live events go out with SPUBLISH (sharded pub/sub, Redis 7), which stays on
 * the tenant's shard.
 */

/**
 * Appends a batch of one tenant's events, in order.
 *
 * ARGV: prefix, tenant, node, now (ms; '' for Redis's clock), maxAgeMs, historySize,
 * idempotencyWindowMs, nodeTtlMs, logTtlMs, historyMaxBytes, maxIdempotencyKeys,
 * maxIdempotencyBytes (-1 for no cap), n, then n times: channel, event, data,
 * idempotencyKey ('' for none), messageId, fingerprint.
 *
 * Per event it answers `{'0', position, remoteSubscribers}` when appended (the other live nodes' streams on its
 * channel whose `types` filter takes its event name), or
 * `{'1', firstAnswerJson}` when the idempotency key was seen in the window
 * (`[position, messageId, channel, event, delivered, fingerprint]`). Each
 * appended event is published on the tenant's `live` channel in the same
 * step, so pub/sub order is position order. When a key comes back with
 * another fingerprint (a different request), nothing is appended and the
 * answer is `{'reused', key}`.
 *
 * The log is trimmed by age, count and bytes (`meta.bytes` tracks the
 * latter). The idempotency keys of a tenant are bounded in count by the
 * `idem` sorted set (key → when it was set) and in bytes by the `idemsize`
 * hash (key → the bytes it holds, `''` → their sum), oldest forgotten first.
 * A key counts what Redis stores for it: its name and answer, the key again
 * in the set and the hash, and 64 for the overhead of each of the three
 * entries (Redis 7 measures about 550 bytes in all for a 36-character key,
 * this count about 450).
 */
export const PUBLISH_SCRIPT = `${HELPERS}
local prefix, tenant, node = ARGV[1], ARGV[2], ARGV[3]
local now, maxAge, size = clock(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, nodeTtl, logTtl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local maxBytes, maxKeys, maxKeyBytes = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local n = tonumber(ARGV[13])
local base = prefix .. ':{' .. tenant .. '}:'
local idemSet, idemSize = base .. 'idem', base .. 'idemsize'
local FIRST, STRIDE = 14, 6

-- A key reused for another request refuses the whole batch before anything is appended.
-- Each key's stored answer (false: none) is read once, here, and kept for the appending below.
local batchPrint, answerOf = {}, {}
for i = 0, n - 1 do
  local a = FIRST + i * STRIDE
  local ikey, print = ARGV[a + 3], ARGV[a + 5]
  if ikey ~= '' then
    local firstPrint = batchPrint[ikey]
    if not firstPrint then
      local seen = redis.call('GET', base .. 'idem:' .. ikey)
      answerOf[ikey] = seen
      if seen then firstPrint = cjson.decode(seen)[6] end
    end
    if firstPrint and firstPrint ~= print then return { { 'reused', ikey } } end
    batchPrint[ikey] = print
  end
end

local floor, bytes = openLog(prefix, base, now, maxAge)

local nodes = nil
-- Per channel: each other live node with streams on it, their number, and how many of them filter by
-- type (the node's subs hash: '<channel>', '<channel> #', and '<channel> <pattern>' per pattern).
local onNodes = {}
local function readChannel(ch)
  if onNodes[ch] then return onNodes[ch] end
  if not nodes then
    nodes = redis.call('ZRANGEBYSCORE', KEYS[2], int(now - nodeTtl), '+inf')
  end
  local list = {}
  for _, other in ipairs(nodes) do
    if other ~= node then
      local got = redis.call('HMGET', base .. 'subs:' .. other, ch, ch .. ' #')
      if got[1] then list[#list + 1] = { other, tonumber(got[1]), tonumber(got[2] or '0') } end
    end
  end
  onNodes[ch] = list
  return list
end
-- The other nodes' streams on a channel that take an event of this name: those without a filter,
-- plus, per pattern that matches the name (the name itself, and 'a.*', 'a.b.*' for 'a.b.c'), the
-- filtered streams with that pattern (each filter is kept without overlapping patterns).
local remoteOf = {}
local function remote(ch, ev)
  local byName = remoteOf[ch]
  if not byName then
    byName = {}
    remoteOf[ch] = byName
  end
  if byName[ev] then return byName[ev] end
  local fields = nil
  local sum = 0
  for _, entry in ipairs(readChannel(ch)) do
    local c = entry[2] - entry[3]
    if entry[3] > 0 then
      if not fields then
        fields = { ch .. ' ' .. ev }
        local dot = string.find(ev, '.', 1, true)
        while dot and dot < #ev do
          fields[#fields + 1] = ch .. ' ' .. string.sub(ev, 1, dot) .. '*'
          dot = string.find(ev, '.', dot + 1, true)
        end
      end
      for _, v in ipairs(redis.call('HMGET', base .. 'subs:' .. entry[1], unpack(fields))) do
        if v then c = c + tonumber(v) end
      end
    end
    if c > 0 then sum = sum + c end
  end
  byName[ev] = sum
  return sum
end

-- Read before anything is written: on a Redis Cluster whose slot is moving, a read
-- that fails must leave nothing half done.
for i = 0, n - 1 do remote(ARGV[FIRST + i * STRIDE], ARGV[FIRST + i * STRIDE + 1]) end

local out = {}
local last = nil
local keysAdded = false
-- The bytes the tenant's idempotency keys hold; a set from before the byte bound has no sum
-- and counts from 0 (its keys subtract nothing when forgotten), so it is exact after one window.
local keyBytes = nil
local function forgetSize(k)
  local b = redis.call('HGET', idemSize, k)
  if b then
    keyBytes = keyBytes - tonumber(b)
    redis.call('HDEL', idemSize, k)
  end
end
for i = 0, n - 1 do
  local a = FIRST + i * STRIDE
  local ch, ev, data, ikey, mid, print = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local seen = false
  if ikey ~= '' then seen = answerOf[ikey] end
  if seen then
    out[#out + 1] = { '1', seen }
  else
    local id, b = append(base, ch, ev, data, mid)
    bytes = bytes + b
    last = id
    local r = remote(ch, ev)
    if ikey ~= '' then
      local name = base .. 'idem:' .. ikey
      -- The answer only (never the data), so a key costs about the same whatever was published.
      local answer = cjson.encode({ id, mid, ch, ev, tostring(r), print })
      redis.call('SET', name, answer, 'PX', window)
      answerOf[ikey] = answer
      redis.call('ZADD', idemSet, now, ikey)
      if not keyBytes then keyBytes = tonumber(redis.call('HGET', idemSize, '') or '0') end
      -- A key set again after its answer expired, before the set forgot it, replaces its old size.
      forgetSize(ikey)
      local b = #name + #answer + 2 * #ikey + 3 * 64
      redis.call('HSET', idemSize, ikey, b)
      keyBytes = keyBytes + b
      keysAdded = true
    end
    out[#out + 1] = { '0', id, tostring(r) }
  end
end

if last then commit(base, floor, bytes, last, now, maxAge, size, maxBytes, logTtl) end
if keysAdded then
  -- Forget keys past the window (their answers have expired), then the oldest while the
  -- keys are more than the count bound or hold more than the byte bound. Keys set in the
  -- same millisecond are ordered by name (the set's order for equal scores).
  local expired = redis.call('ZRANGEBYSCORE', idemSet, '-inf', '(' .. int(now - window))
  for _, k in ipairs(expired) do forgetSize(k) end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', idemSet, '-inf', '(' .. int(now - window)) end
  local count = redis.call('ZCARD', idemSet)
  while count > maxKeys or (maxKeyBytes >= 0 and keyBytes > maxKeyBytes) do
    local oldest = redis.call('ZPOPMIN', idemSet)
    if #oldest == 0 then
      count = 0
      break
    end
    redis.call('DEL', base .. 'idem:' .. oldest[1])
    forgetSize(oldest[1])
    count = count - 1
  end
  if count <= 0 or keyBytes < 0 then keyBytes = 0 end
  redis.call('HSET', idemSize, '', keyBytes)
  redis.call('PEXPIRE', idemSet, window)
  redis.call('PEXPIRE', idemSize, window)
end
return out
`;

/**
 * Reads one page of a tenant's log after a position (exclusive), trimming
 * by age first.
 *
 * ARGV: prefix, tenant, now (ms; '' for Redis's clock), maxAgeMs, after, count, maxBytes,
 * strict (1|0), k, then k channel names (k = 0: every channel). A page ends
 * after `count` entries read or once the matching ones pass `maxBytes`
 * (never before the first match). `strict` (a client's
 * Last-Event-ID) also says not recovered for a position past the log's newest
 * one, which this log never gave; a node catching up starts from its own
 * position, which may be past an idle log's end.
 *
 * Answers `{recovered (1|0), floor, more, flat, last}`: `recovered` says
 * whether everything after `after` is still held; `more` is the id to
 * continue from when the page was full ('' otherwise); `flat` lists id,
 * channel, event, data, messageId for each matching entry; `last` is the
 * newest position of the log ('' when there is none).
 */
export const READ_SCRIPT = `${HELPERS}
local prefix, tenant = ARGV[1], ARGV[2]
local now, maxAge, after, count = clock(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local maxBytes, strict, k = tonumber(ARGV[7]), ARGV[8] == '1', tonumber(ARGV[9])
local base = prefix .. ':{' .. tenant .. '}:'
local log, meta = base .. 'log', base .. 'meta'

if redis.call('EXISTS', log) == 0 then
  local floor = freshFloor(prefix, now, maxAge)
  local f = redis.call('HGET', meta, 'floor')
  if f and ge(f, floor) then floor = f end
  local am = parse(after)
  local ok = ge(after, floor) and am <= now
  return { ok and 1 or 0, floor, '', {}, '' }
end

local floor = redis.call('HGET', meta, 'floor') or freshFloor(prefix, now, maxAge)
local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
local trimmed, left = trim(log, floor, bytes, now, maxAge, -1, -1)
if trimmed ~= floor then
  redis.call('HSET', meta, 'floor', trimmed, 'bytes', left)
  floor = trimmed
end
local last = redis.call('HGET', meta, 'last')
local recovered = ge(after, floor) and (not strict or not last or ge(last, after))

local wanted = nil
if k > 0 then
  wanted = {}
  for i = 1, k do wanted[ARGV[9 + i]] = true end
end
local flat = {}
local more = ''
local size = 0
local read = 0
local from = after
-- Read in growing batches so a small page of large events reads little more than it returns.
local batch = 1
local full = false
while read < count and not full do
  local want = math.min(batch, count - read)
  local raw = redis.call('XRANGE', log, '(' .. from, '+', 'COUNT', want)
  for _, entry in ipairs(raw) do
    local f = entry[2]
    local fields = {}
    for j = 1, #f, 2 do fields[f[j]] = f[j + 1] end
    if not wanted or wanted[fields.c] then
      local b = entryBytes(f)
      if #flat > 0 and size + b > maxBytes then
        more = flat[#flat - 4]
        full = true
        break
      end
      size = size + b
      flat[#flat + 1] = entry[1]
      flat[#flat + 1] = fields.c
      flat[#flat + 1] = fields.e
      flat[#flat + 1] = fields.d
      flat[#flat + 1] = fields.m
    end
    read = read + 1
    from = entry[1]
  end
  if #raw < want then break end
  batch = batch * 2
end
if more == '' and read >= count then more = from end
return { recovered and 1 or 0, floor, more, flat, last or '' }
`;

/**
 * Stores one revocation of a tenant and tells every node, atomically (a node
 * reading the set after subscribing to the control channel misses nothing).
 *
 * KEYS: the tenant's revocation set, its control channel.
 * ARGV: member, time (ms), oldest time still kept (ms), TTL of the set (ms),
 * most members, the control message, keep ('1' to store, '0' when no valid
 * token can match it and it is only broadcast).
 *
 * Returns the number of subscribers the message reached, or -1 when the set
 * is full (nothing stored, nothing sent).
 */
export const REVOKE_SCRIPT = `
local set, channel = KEYS[1], KEYS[2]
redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. ARGV[3])
if ARGV[7] == '1' then
  if not redis.call('ZSCORE', set, ARGV[1]) and redis.call('ZCARD', set) >= tonumber(ARGV[5]) then
    return -1
  end
  -- GT: a later time for the same token, user or tenant replaces an earlier one, never the reverse.
  redis.call('ZADD', set, 'GT', ARGV[2], ARGV[1])
  redis.call('PEXPIRE', set, ARGV[4])
end
return redis.call('SPUBLISH', channel, ARGV[6])
`;

/** The Redis client with the broker's scripts defined on it. */
export type ScriptClient = CommandClient & {
  castPublish(...args: Array<string | number>): Promise<unknown>;
  castRead(...args: Array<string | number>): Promise<unknown>;
  castRevoke(...args: Array<string | number>): Promise<number>;
  castPresence(...args: Array<string | number>): Promise<unknown>;
  castSnapshot(...args: Array<string | number>): Promise<unknown>;
};

/** How many keys {@link tenantKeys} gives. */
export const TENANT_KEYS = 4;

/**
 * The keys every tenant script declares first: the epoch, the live nodes, the
 * meta hash and the log.
 *
 * @example
 * ```ts
 * cmd.castRead(TENANT_KEYS, ...tenantKeys(keys, 'acme'), ...args)
 * ```
 */
export function tenantKeys(keys: RedisKeys, tenant: string): [string, string, string, string] {
  return [keys.epochOf(tenant), keys.liveNodes(tenant), keys.meta(tenant), keys.log(tenant)];
}

/**
 * Defines the scripts on a client. The tenant scripts take their key count
 * first (the publish script declares its idempotency keys too).
 *
 * @example
 * ```ts
 * const cmd = defineScripts(createCommandClient(target, options))
 * ```
 */
export function defineScripts(client: CommandClient): ScriptClient {
  client.defineCommand('castPublish', { lua: PUBLISH_SCRIPT });
  client.defineCommand('castRead', { numberOfKeys: TENANT_KEYS, lua: READ_SCRIPT });
  client.defineCommand('castRevoke', { numberOfKeys: 2, lua: REVOKE_SCRIPT });
  client.defineCommand('castPresence', { numberOfKeys: TENANT_KEYS, lua: PRESENCE_SCRIPT });
  client.defineCommand('castSnapshot', { numberOfKeys: TENANT_KEYS, lua: SNAPSHOT_SCRIPT });
  return client as ScriptClient;
}
