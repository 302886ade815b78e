/**
 * The presence scripts of the Redis broker (see `scripts.ts` for the keys
 * every tenant script declares and the helpers they share).
 */
import { HELPERS } from './script-helpers.js';

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
local nodes = redis.call('ZRANGEBYSCORE', KEYS[2], int(now - nodeTtl), '+inf')
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
