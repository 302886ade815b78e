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
-- Trims by age (and by count when size >= 0); returns the new floor.
local function trim(log, floor, now, maxAge, size)
  if now - maxAge > 0 then
    local cut = int(now - maxAge) .. '-0'
    local old = redis.call('XREVRANGE', log, '(' .. cut, '-', 'COUNT', 1)
    if #old > 0 then
      if ge(old[1][1], floor) then floor = old[1][1] end
      redis.call('XTRIM', log, 'MINID', cut)
    end
  end
  if size >= 0 then
    local len = redis.call('XLEN', log)
    if len > size then
      local gone = redis.call('XRANGE', log, '-', '+', 'COUNT', len - size)
      local id = gone[#gone][1]
      if ge(id, floor) then floor = id end
      redis.call('XTRIM', log, 'MAXLEN', size)
    end
  end
  return floor
end
-- The floor of a tenant's log before appending to it.
local function openFloor(prefix, base, now, maxAge)
  local floor = redis.call('HGET', base .. 'meta', 'floor')
  if redis.call('EXISTS', base .. 'log') == 0 then
    local fresh = freshFloor(prefix, now, maxAge)
    if not floor or ge(fresh, floor) then floor = fresh end
  end
  return floor
end
-- Appends one event to the tenant's log and publishes it on the tenant's live
-- channel in the same step, so pub/sub order is position order. Answers its position.
local function append(base, ch, ev, data, mid)
  local id = redis.call('XADD', base .. 'log', '*', 'c', ch, 'e', ev, 'd', data, 'm', mid)
  redis.call('PUBLISH', base .. 'live', id .. ' ' .. #ch .. ' ' .. #ev .. ' ' .. mid .. '\n' .. ch .. ev .. data)
  return id
end
-- After appending up to 'last': trims, records the floor and the newest position, keeps the log alive.
local function commit(base, floor, last, now, maxAge, size, logTtl)
  local log, meta = base .. 'log', base .. 'meta'
  floor = trim(log, floor, now, maxAge, size)
  redis.call('HSET', meta, 'floor', floor, 'last', last)
  redis.call('PEXPIRE', log, logTtl)
  redis.call('PEXPIRE', meta, logTtl)
end
`;

/**
 * Appends a batch of one tenant's events, in order.
 *
 * ARGV: prefix, tenant, node, now (ms; '' for Redis's clock), maxAgeMs, historySize,
 * idempotencyWindowMs, nodeTtlMs, logTtlMs, n, then n times: channel, event,
 * data, idempotencyKey ('' for none), messageId.
 *
 * Per event it answers `{'0', position, remoteSubscribers}` when appended, or
 * `{'1', firstAnswerJson}` when the idempotency key was seen in the window
 * (`[position, messageId, channel, event, delivered]`). Each appended event is
 * published on the tenant's `live` channel in the same step, so pub/sub order
 * is position order.
 */
export const PUBLISH_SCRIPT = `${HELPERS}
local prefix, tenant, node = ARGV[1], ARGV[2], ARGV[3]
local now, maxAge, size = clock(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, nodeTtl, logTtl, n = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local base = prefix .. ':{' .. tenant .. '}:'
local floor = openFloor(prefix, base, now, maxAge)

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
for i = 0, n - 1 do
  local a = 11 + i * 5
  local ch, ev, data, ikey, mid = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local seen = false
  if ikey ~= '' then seen = redis.call('GET', base .. 'idem:' .. ikey) end
  if seen then
    out[#out + 1] = { '1', seen }
  else
    local id = append(base, ch, ev, data, mid)
    last = id
    local r = remote(ch)
    if ikey ~= '' then
      redis.call('SET', base .. 'idem:' .. ikey, cjson.encode({ id, mid, ch, ev, tostring(r) }), 'PX', window)
    end
    out[#out + 1] = { '0', id, tostring(r) }
  end
end

if last then commit(base, floor, last, now, maxAge, size, logTtl) end
return out
`;

/**
 * Reads one page of a tenant's log after a position (exclusive), trimming
 * by age first.
 *
 * ARGV: prefix, tenant, now (ms; '' for Redis's clock), maxAgeMs, after, count, strict (1|0), k,
 * then k channel names (k = 0: every channel). `strict` (a client's
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
local strict, k = ARGV[7] == '1', tonumber(ARGV[8])
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
local trimmed = trim(log, floor, now, maxAge, -1)
if trimmed ~= floor then
  redis.call('HSET', meta, 'floor', trimmed)
  floor = trimmed
end
local last = redis.call('HGET', meta, 'last')
local recovered = ge(after, floor) and (not strict or not last or ge(last, after))

local wanted = nil
if k > 0 then
  wanted = {}
  for i = 1, k do wanted[ARGV[8 + i]] = true end
end
local raw = redis.call('XRANGE', log, '(' .. after, '+', 'COUNT', count)
local flat = {}
for _, entry in ipairs(raw) do
  local f = entry[2]
  local fields = {}
  for j = 1, #f, 2 do fields[f[j]] = f[j + 1] end
  if not wanted or wanted[fields.c] then
    flat[#flat + 1] = entry[1]
    flat[#flat + 1] = fields.c
    flat[#flat + 1] = fields.e
    flat[#flat + 1] = fields.d
    flat[#flat + 1] = fields.m
  end
end
local more = ''
if #raw == count then more = raw[#raw][1] end
return { recovered and 1 or 0, floor, more, flat, last or '' }
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
 * historySize, logTtlMs, messageIdBase, op, then the op's arguments:
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
local midBase, op = ARGV[8], ARGV[9]
local base = prefix .. ':{' .. tenant .. '}:'
local mine = base .. 'pn:' .. node
local occ, occz, chs = base .. 'occ', base .. 'occz', base .. 'chs'

local floor, last, appended = nil, nil, 0
local function emit(ch, ev, data)
  if not floor then floor = openFloor(prefix, base, now, maxAge) end
  appended = appended + 1
  last = append(base, ch, ev, data, midBase .. '.' .. appended)
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
  result = occupy(mine, ARGV[10])
elseif op == 'release' then
  result = release(mine, ARGV[10])
elseif op == 'settleChannel' then
  result = settleChannel(mine, ARGV[10], tonumber(ARGV[11]))
elseif op == 'join' then
  result = join(mine, ARGV[10], ARGV[11], ARGV[12], 1)
elseif op == 'part' then
  result = partUser(mine, ARGV[10], ARGV[11], 1)
elseif op == 'settleMember' then
  result = settleUser(mine, ARGV[10], ARGV[11], tonumber(ARGV[12]))
elseif op == 'rewrite' then
  local channels, users = drop(mine)
  local k = tonumber(ARGV[10])
  local kept = {}
  for i = 1, k do
    local ch = ARGV[10 + i]
    kept['o|' .. ch] = true
    if occupy(mine, ch) == 1 then note('channel.occupied', ch) end
  end
  local a = 11 + k
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
  local dead = base .. 'pn:' .. ARGV[10]
  local channels, users = drop(dead)
  for _, u in ipairs(users) do
    if settleUser(dead, u[1], u[2], 0) == 1 then note('presence.leave', u[1], u[2]) end
  end
  for _, ch in ipairs(channels) do
    if settleChannel(dead, ch, 0) == 1 then note('channel.vacated', ch) end
  end
  result = out
end

if last then commit(base, floor, last, now, maxAge, size, logTtl) end
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
