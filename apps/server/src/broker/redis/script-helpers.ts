/**
 * The Lua helpers every tenant script of the Redis broker starts with: position
 * arithmetic, Redis's clock, the epoch, the trim, opening, appending to and
 * committing a tenant's log.
 */

/** Shared helpers, prepended to every tenant script. */
export const HELPERS = String.raw`
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
-- KEYS[1] is the epoch key: the dataset's on one Redis, the tenant's own on a Redis Cluster
-- (each shard may lose its data alone, and a script may touch only the tenant's slot).
local function epoch(prefix)
  local key = KEYS[1]
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
-- Reads only entries it removes, and the first it keeps when that one may be too
-- old, so a publish costs about what it appends; the floor is the newest removed
-- id, exactly. Returns floor, bytes.
local function trim(log, floor, bytes, now, maxAge, size, maxBytes)
  local cut = nil
  if now - maxAge > 0 then cut = int(now - maxAge) .. '-0' end
  local len = redis.call('XLEN', log)
  local batch = 1
  local function over() return (size >= 0 and len > size) or (maxBytes >= 0 and bytes > maxBytes) end
  while len > 0 do
    local entries = redis.call('XRANGE', log, '-', '+', 'COUNT', batch)
    local gone, newest, aged = 0, nil, false
    for _, e in ipairs(entries) do
      local old = cut ~= nil and not ge(e[1], cut)
      if not (old or over()) then break end
      bytes = bytes - entryBytes(e[2])
      len = len - 1
      gone = gone + 1
      newest = e[1]
      aged = old
    end
    if gone == 0 then break end
    local ms, seq = parse(newest)
    redis.call('XTRIM', log, 'MINID', int(ms) .. '-' .. int(seq + 1))
    if ge(newest, floor) then floor = newest end
    if gone < #entries then break end
    -- Within the caps now, and the newest removed was young enough: every entry after it is
    -- younger still, so there is nothing more to read (at a cap, a publish removes one entry).
    if not (aged or over()) then break end
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
  redis.call('SPUBLISH', base .. 'live', id .. ' ' .. #ch .. ' ' .. #ev .. ' ' .. mid .. '\n' .. ch .. ev .. data)
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
