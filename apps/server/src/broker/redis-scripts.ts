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
local log, meta, live, idemSet = base .. 'log', base .. 'meta', base .. 'live', base .. 'idem'
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

local floor = redis.call('HGET', meta, 'floor')
local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
if redis.call('EXISTS', log) == 0 then
  local fresh = freshFloor(prefix, now, maxAge)
  if not floor or ge(fresh, floor) then floor = fresh end
  bytes = 0
end

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
    local id = redis.call('XADD', log, '*', 'c', ch, 'e', ev, 'd', data, 'm', mid)
    bytes = bytes + 64 + #ch + #ev + #data + #mid
    last = id
    local r = remote(ch)
    if ikey ~= '' then
      redis.call('SET', base .. 'idem:' .. ikey, cjson.encode({ id, mid, ch, ev, tostring(r), print }), 'PX', window)
      redis.call('ZADD', idemSet, now, ikey)
      keysAdded = true
    end
    redis.call('PUBLISH', live, id .. ' ' .. #ch .. ' ' .. #ev .. ' ' .. mid .. '\\n' .. ch .. ev .. data)
    out[#out + 1] = { '0', id, tostring(r) }
  end
end

if last then
  floor, bytes = trim(log, floor, bytes, now, maxAge, size, maxBytes)
  redis.call('HSET', meta, 'floor', floor, 'last', last, 'bytes', bytes)
  redis.call('PEXPIRE', log, logTtl)
  redis.call('PEXPIRE', meta, logTtl)
end
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
