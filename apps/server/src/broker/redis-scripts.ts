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
 */

/** Shared helpers, prepended to both scripts. */
const HELPERS = String.raw`
local MAXSEQ = '18446744073709551615'
local function parse(id)
  local d = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1))
end
local function ge(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am > bm end
  return as >= bs
end
local function int(n) return string.format('%.0f', n) end
-- Redis's clock (ms), so every node ages the log alike whatever its own clock says.
local function clock(given)
  local n = tonumber(given)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function before(ms) return int(ms - 1) .. '-' .. MAXSEQ end
-- When this Redis dataset began (Redis time, ms). A dataset that lost its keys
-- gets a new epoch, so ids handed out before the loss are below every floor.
local function epoch(prefix)
  local key = prefix .. ':epoch'
  local e = redis.call('GET', key)
  if not e then
    local t = redis.call('TIME')
    e = int(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    redis.call('SET', key, e)
  end
  return tonumber(e)
end
-- The floor of a log that does not exist (never written, expired when idle,
-- or lost): nothing older than the epoch or than the age limit is known.
local function freshFloor(prefix, now, maxAge)
  return before(math.max(epoch(prefix), now - maxAge))
end
-- The bytes an entry counts for against the byte cap: its field values and a fixed overhead.
local function entryBytes(fields)
  local n = 64
  for j = 2, #fields, 2 do n = n + #fields[j] end
  return n
end
-- Trims the oldest entries while they are older than the age limit, the log
-- holds more than size entries (size >= 0) or more than maxBytes (maxBytes >= 0).
-- Reads only entries it removes (plus one), so a publish costs about what it
-- appends; the floor is the newest removed id, exactly. Returns floor, bytes.
local function trim(log, floor, bytes, now, maxAge, size, maxBytes)
  local cut = nil
  if now - maxAge > 0 then cut = int(now - maxAge) .. '-0' end
  local len = redis.call('XLEN', log)
  local batch = 1
  while len > 0 do
    local entries = redis.call('XRANGE', log, '-', '+', 'COUNT', batch)
    local gone, newest = 0, nil
    for _, e in ipairs(entries) do
      local old = cut ~= nil and not ge(e[1], cut)
      local over = (size >= 0 and len > size) or (maxBytes >= 0 and bytes > maxBytes)
      if not (old or over) then break end
      bytes = bytes - entryBytes(e[2])
      len = len - 1
      gone = gone + 1
      newest = e[1]
    end
    if gone == 0 then break end
    local ms, seq = parse(newest)
    redis.call('XTRIM', log, 'MINID', int(ms) .. '-' .. int(seq + 1))
    if ge(newest, floor) then floor = newest end
    if gone < #entries then break end
    batch = math.min(batch * 4, 256)
  end
  if len == 0 or bytes < 0 then bytes = 0 end
  return floor, bytes
end
-- The floor of a tenant's log and its bytes (against the byte cap) before appending to it.
local function openLog(prefix, base, now, maxAge)
  local meta = base .. 'meta'
  local floor = redis.call('HGET', meta, 'floor')
  local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
  if redis.call('EXISTS', base .. 'log') == 0 then
    local fresh = freshFloor(prefix, now, maxAge)
    if not floor or ge(fresh, floor) then floor = fresh end
    bytes = 0
  end
  return floor, bytes
end
-- Appends one event to the tenant's log and publishes it on the tenant's live
-- channel in the same step, so pub/sub order is position order. Answers its
-- position and the bytes it counts for against the byte cap (as entryBytes).
local function append(base, ch, ev, data, mid)
  local id = redis.call('XADD', base .. 'log', '*', 'c', ch, 'e', ev, 'd', data, 'm', mid)
  redis.call('PUBLISH', base .. 'live', id .. ' ' .. #ch .. ' ' .. #ev .. ' ' .. mid .. '\n' .. ch .. ev .. data)
  return id, 64 + #ch + #ev + #data + #mid
end
-- After appending up to 'last': trims (by age, count and bytes), records the
-- floor, the newest position and the bytes, keeps the log alive.
local function commit(base, floor, bytes, last, now, maxAge, size, maxBytes, logTtl)
  local log, meta = base .. 'log', base .. 'meta'
  floor, bytes = trim(log, floor, bytes, now, maxAge, size, maxBytes)
  redis.call('HSET', meta, 'floor', floor, 'last', last, 'bytes', bytes)
  redis.call('PEXPIRE', log, logTtl)
  redis.call('PEXPIRE', meta, logTtl)
end
`;

/**
 * Appends a batch of one tenant's events, in order.
 *
 * ARGV: prefix, tenant, node, now (ms; '' for Redis's clock), maxAgeMs, historySize,
 * idempotencyWindowMs, nodeTtlMs, logTtlMs, historyMaxBytes, maxIdempotencyKeys, n,
 * then n times: channel, event, data, idempotencyKey ('' for none), messageId,
 * fingerprint.
 *
 * Per event it answers `{'0', position, remoteSubscribers}` when appended, or
 * `{'1', firstAnswerJson}` when the idempotency key was seen in the window
 * (`[position, messageId, channel, event, delivered, fingerprint]`). Each
 * appended event is published on the tenant's `live` channel in the same
 * step, so pub/sub order is position order. When a key comes back with
 * another fingerprint (a different request), nothing is appended and the
 * answer is `{'reused', key}`.
 *
 * The log is trimmed by age, count and bytes (`meta.bytes` tracks the
 * latter); the idempotency keys of a tenant are bounded in count by the
 * `idem` sorted set (key → when it was set), oldest forgotten first.
 */
export const PUBLISH_SCRIPT = `${HELPERS}
local prefix, tenant, node = ARGV[1], ARGV[2], ARGV[3]
local now, maxAge, size = clock(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, nodeTtl, logTtl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local maxBytes, maxKeys, n = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local base = prefix .. ':{' .. tenant .. '}:'
local idemSet = base .. 'idem'
local FIRST, STRIDE = 13, 6

-- A key reused for another request refuses the whole batch before anything is appended.
local batchPrint = {}
for i = 0, n - 1 do
  local a = FIRST + i * STRIDE
  local ikey, print = ARGV[a + 3], ARGV[a + 5]
  if ikey ~= '' then
    local firstPrint = batchPrint[ikey]
    if not firstPrint then
      local seen = redis.call('GET', base .. 'idem:' .. ikey)
      if seen then firstPrint = cjson.decode(seen)[6] end
    end
    if firstPrint and firstPrint ~= print then return { { 'reused', ikey } } end
    batchPrint[ikey] = print
  end
end

local floor, bytes = openLog(prefix, base, now, maxAge)

local nodes = nil
local remoteOf = {}
local function remote(ch)
  if remoteOf[ch] then return remoteOf[ch] end
  if not nodes then
    nodes = redis.call('ZRANGEBYSCORE', prefix .. ':nodes', int(now - nodeTtl), '+inf')
  end
  local sum = 0
  for _, other in ipairs(nodes) do
    if other ~= node then
      local c = redis.call('HGET', base .. 'subs:' .. other, ch)
      if c then sum = sum + tonumber(c) end
    end
  end
  remoteOf[ch] = sum
  return sum
end

local out = {}
local last = nil
local keysAdded = false
for i = 0, n - 1 do
  local a = FIRST + i * STRIDE
  local ch, ev, data, ikey, mid, print = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local seen = false
  if ikey ~= '' then seen = redis.call('GET', base .. 'idem:' .. ikey) end
  if seen then
    out[#out + 1] = { '1', seen }
  else
    local id, b = append(base, ch, ev, data, mid)
    bytes = bytes + b
    last = id
    local r = remote(ch)
    if ikey ~= '' then
      redis.call('SET', base .. 'idem:' .. ikey, cjson.encode({ id, mid, ch, ev, tostring(r), print }), 'PX', window)
      redis.call('ZADD', idemSet, now, ikey)
      keysAdded = true
    end
    out[#out + 1] = { '0', id, tostring(r) }
  end
end

if last then commit(base, floor, bytes, last, now, maxAge, size, maxBytes, logTtl) end
if keysAdded then
  -- Forget keys past the window, then the oldest beyond the count bound.
  redis.call('ZREMRANGEBYSCORE', idemSet, '-inf', '(' .. int(now - window))
  local extra = redis.call('ZCARD', idemSet) - maxKeys
  if extra > 0 then
    local gone = redis.call('ZRANGE', idemSet, 0, extra - 1)
    for _, k in ipairs(gone) do redis.call('DEL', base .. 'idem:' .. k) end
    redis.call('ZREMRANGEBYRANK', idemSet, 0, extra - 1)
  end
  redis.call('PEXPIRE', idemSet, window)
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
return redis.call('PUBLISH', channel, ARGV[6])
`;

/**
 * One presence step of a node for one tenant, decided once for the cluster.
 *
 * Keys (under the tenant's hash tag): `pn:<node>` the node's part (`o|<channel>`
 * → 1 while the node has streams on the channel, 0 once it released it and
 * has not settled yet; `u|<channel>|<userId>` → the node's streams of the
 * user, 0 until settled), `occ` channel → nodes with streams on it (a field
 * at 0 is a channel in its grace period), `occz` channel → when it reached 0,
 * `chs` the occupied channels by name (a sorted set, for paging), `pu:<channel>`
 * user → streams across nodes (0: in the grace period), `pz:<channel>` user →
 * when it reached 0, `pi:<channel>` user → the `presence.join` data (the newest
 * userInfo), which is also the `presence.leave` data.
 *
 * ARGV: prefix, tenant, node, now ('' for Redis's clock), maxAgeMs,
 * historySize, logTtlMs, historyMaxBytes (-1: none), messageIdBase, op, then the op's arguments:
 * - `occupy` channel → 1 when the channel became occupied
 * - `release` channel → 0
 * - `settleChannel` channel graceMs → 1 when it became vacant
 * - `join` channel userId data → 1 when the user joined (`presence.join` appended)
 * - `part` channel userId → 0
 * - `settleMember` channel userId graceMs → 1 when the user left (`presence.leave` appended)
 * - `rewrite` k channel… m (channel userId count data)… → the node's whole part;
 *   answers the changes as a flat list of type, channel, userId ('' for none)
 * - `reap` deadNode → removes a dead node's part; answers the changes likewise
 */
export const PRESENCE_SCRIPT = `${HELPERS}
local prefix, tenant, node = ARGV[1], ARGV[2], ARGV[3]
local now, maxAge, size, logTtl = clock(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local maxBytes, midBase, op = tonumber(ARGV[8]), ARGV[9], ARGV[10]
local base = prefix .. ':{' .. tenant .. '}:'
local mine = base .. 'pn:' .. node
local occ, occz, chs = base .. 'occ', base .. 'occz', base .. 'chs'

local floor, bytes, last, appended = nil, 0, nil, 0
-- Presence events take the publish path's append: positions, the live channel and the byte cap alike.
local function emit(ch, ev, data)
  if not floor then floor, bytes = openLog(prefix, base, now, maxAge) end
  appended = appended + 1
  local b
  last, b = append(base, ch, ev, data, midBase .. '.' .. appended)
  bytes = bytes + b
end

local function occupy(part, ch)
  local f = 'o|' .. ch
  if redis.call('HGET', part, f) == '1' then return 0 end
  redis.call('HSET', part, f, '1')
  local announced = redis.call('HEXISTS', occ, ch) == 1
  redis.call('HINCRBY', occ, ch, 1)
  if announced then return 0 end
  redis.call('ZADD', chs, 0, ch)
  return 1
end

local function release(part, ch)
  local f = 'o|' .. ch
  if redis.call('HGET', part, f) ~= '1' then return 0 end
  redis.call('HSET', part, f, '0')
  if redis.call('HINCRBY', occ, ch, -1) <= 0 then redis.call('HSET', occz, ch, int(now)) end
  return 0
end

local function settleChannel(part, ch, grace)
  local f = 'o|' .. ch
  if redis.call('HGET', part, f) == '0' then redis.call('HDEL', part, f) end
  local n = redis.call('HGET', occ, ch)
  if not n or tonumber(n) > 0 then return 0 end
  if now - tonumber(redis.call('HGET', occz, ch) or '0') < grace then return 0 end
  redis.call('HDEL', occ, ch)
  redis.call('HDEL', occz, ch)
  redis.call('ZREM', chs, ch)
  return 1
end

local function join(part, ch, user, data, count)
  redis.call('HINCRBY', part, 'u|' .. ch .. '|' .. user, count)
  local pu = base .. 'pu:' .. ch
  local known = redis.call('HEXISTS', pu, user) == 1
  redis.call('HINCRBY', pu, user, count)
  redis.call('HSET', base .. 'pi:' .. ch, user, data)
  if known then return 0 end
  emit(ch, 'presence.join', data)
  return 1
end

-- Takes n streams of a user off a part (the field stays, at 0, until settled).
local function partUser(part, ch, user, n)
  local f = 'u|' .. ch .. '|' .. user
  local had = tonumber(redis.call('HGET', part, f) or '0')
  if had <= 0 then return 0 end
  if n > had then n = had end
  redis.call('HSET', part, f, had - n)
  local pu = base .. 'pu:' .. ch
  local left = redis.call('HINCRBY', pu, user, -n)
  if left <= 0 then
    if left < 0 then redis.call('HSET', pu, user, 0) end
    redis.call('HSET', base .. 'pz:' .. ch, user, int(now))
  end
  return 0
end

local function settleUser(part, ch, user, grace)
  local f = 'u|' .. ch .. '|' .. user
  if redis.call('HGET', part, f) == '0' then redis.call('HDEL', part, f) end
  local pu = base .. 'pu:' .. ch
  local c = redis.call('HGET', pu, user)
  if not c or tonumber(c) > 0 then return 0 end
  if now - tonumber(redis.call('HGET', base .. 'pz:' .. ch, user) or '0') < grace then return 0 end
  local data = redis.call('HGET', base .. 'pi:' .. ch, user)
  if not data then
    data = '{"channel":' .. cjson.encode(ch) .. ',"userId":' .. cjson.encode(user) .. ',"userInfo":null}'
  end
  redis.call('HDEL', pu, user)
  redis.call('HDEL', base .. 'pz:' .. ch, user)
  redis.call('HDEL', base .. 'pi:' .. ch, user)
  emit(ch, 'presence.leave', data)
  return 1
end

-- Takes a whole part off the totals (and deletes it): the channels and users it
-- held are answered, left at 0 in the totals where nobody else holds them.
local function drop(part)
  local fields = redis.call('HGETALL', part)
  redis.call('DEL', part)
  local channels, users = {}, {}
  for i = 1, #fields, 2 do
    local f, v = fields[i], tonumber(fields[i + 1])
    if string.sub(f, 1, 2) == 'o|' then
      local ch = string.sub(f, 3)
      if v > 0 and redis.call('HINCRBY', occ, ch, -1) <= 0 then redis.call('HSET', occz, ch, int(now)) end
      channels[#channels + 1] = ch
    else
      local rest = string.sub(f, 3)
      local bar = string.find(rest, '|', 1, true)
      local ch, user = string.sub(rest, 1, bar - 1), string.sub(rest, bar + 1)
      if v > 0 then
        -- partUser works on a part's field: put it back for the call.
        redis.call('HSET', part, f, v)
        partUser(part, ch, user, v)
        redis.call('HDEL', part, f)
      end
      users[#users + 1] = { ch, user }
    end
  end
  return channels, users
end

local out = {}
local function note(kind, ch, user)
  out[#out + 1] = kind
  out[#out + 1] = ch
  out[#out + 1] = user or ''
end

local result = 0
if op == 'occupy' then
  result = occupy(mine, ARGV[11])
elseif op == 'release' then
  result = release(mine, ARGV[11])
elseif op == 'settleChannel' then
  result = settleChannel(mine, ARGV[11], tonumber(ARGV[12]))
elseif op == 'join' then
  result = join(mine, ARGV[11], ARGV[12], ARGV[13], 1)
elseif op == 'part' then
  result = partUser(mine, ARGV[11], ARGV[12], 1)
elseif op == 'settleMember' then
  result = settleUser(mine, ARGV[11], ARGV[12], tonumber(ARGV[13]))
elseif op == 'rewrite' then
  local channels, users = drop(mine)
  local k = tonumber(ARGV[11])
  local kept = {}
  for i = 1, k do
    local ch = ARGV[11 + i]
    kept['o|' .. ch] = true
    if occupy(mine, ch) == 1 then note('channel.occupied', ch) end
  end
  local a = 12 + k
  local m = tonumber(ARGV[a])
  for i = 0, m - 1 do
    local ch, user, count, data = ARGV[a + 1 + i * 4], ARGV[a + 2 + i * 4], tonumber(ARGV[a + 3 + i * 4]), ARGV[a + 4 + i * 4]
    kept['u|' .. ch .. '|' .. user] = true
    if join(mine, ch, user, data, count) == 1 then note('presence.join', ch, user) end
  end
  -- What the node held and holds no more waits at 0 for this node to settle it.
  for _, ch in ipairs(channels) do
    if not kept['o|' .. ch] and redis.call('HEXISTS', occ, ch) == 1 then redis.call('HSET', mine, 'o|' .. ch, '0') end
  end
  for _, u in ipairs(users) do
    local f = 'u|' .. u[1] .. '|' .. u[2]
    if not kept[f] and redis.call('HEXISTS', base .. 'pu:' .. u[1], u[2]) == 1 then redis.call('HSET', mine, f, '0') end
  end
  result = out
elseif op == 'reap' then
  local dead = base .. 'pn:' .. ARGV[11]
  local channels, users = drop(dead)
  for _, u in ipairs(users) do
    if settleUser(dead, u[1], u[2], 0) == 1 then note('presence.leave', u[1], u[2]) end
  end
  for _, ch in ipairs(channels) do
    if settleChannel(dead, ch, 0) == 1 then note('channel.vacated', ch) end
  end
  result = out
end

if last then commit(base, floor, bytes, last, now, maxAge, size, maxBytes, logTtl) end
return result
`;

/**
 * The presence of some channels of a tenant and the log position it is at,
 * read in one step (so no event falls between the two).
 *
 * ARGV: prefix, tenant, node, now ('' for Redis's clock), nodeTtlMs, k, then k channels.
 * Answers `{last, then per channel: {pu flat}, {pi flat}, connections on other live nodes}`.
 */
export const SNAPSHOT_SCRIPT = `${HELPERS}
local prefix, tenant, node = ARGV[1], ARGV[2], ARGV[3]
local now, nodeTtl, k = clock(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local base = prefix .. ':{' .. tenant .. '}:'
local nodes = redis.call('ZRANGEBYSCORE', prefix .. ':nodes', int(now - nodeTtl), '+inf')
local out = { redis.call('HGET', base .. 'meta', 'last') or '' }
for i = 1, k do
  local ch = ARGV[6 + i]
  out[#out + 1] = redis.call('HGETALL', base .. 'pu:' .. ch)
  out[#out + 1] = redis.call('HGETALL', base .. 'pi:' .. ch)
  local remote = 0
  for _, other in ipairs(nodes) do
    if other ~= node then remote = remote + tonumber(redis.call('HGET', base .. 'subs:' .. other, ch) or '0') end
  end
  out[#out + 1] = remote
end
return out
`;
