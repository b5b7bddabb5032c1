-- One batch of "last seen" updates for a room, written once per heartbeat interval.
-- KEYS: 1 config, 2 issued, 3 queue, 4 seen, 5 lapsed, 6 active, 7 serving, 8 left
-- ARGV: visitor, number, visitor, number, ...
-- A visitor found in no set although their number has not been called lost their place with
-- Redis's data: the signed ticket puts them back, and a lapsed one goes back to the head.
-- Returns how many visitors were put back.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local now = now_s()
local serving = tonumber(redis.call('GET', KEYS[7]) or '0')
local top = 0
local restored = 0
-- Most visitors are simply waiting: one ZMSCORE finds them all and one ZADD records them, in
-- slices so that no call unpacks more arguments than Lua's stack takes. Only the others go
-- through the per-visitor checks below.
local SLICE = 500
local count = #ARGV / 2
local waiting = {}
for first = 1, count, SLICE do
  local last = math.min(count, first + SLICE - 1)
  local ids = {}
  for j = first, last do
    ids[#ids + 1] = ARGV[2 * j - 1]
  end
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(ids))
  local seen = {}
  for j = first, last do
    if scores[j - first + 1] then
      waiting[j] = true
      seen[#seen + 1] = now
      seen[#seen + 1] = ARGV[2 * j - 1]
    end
  end
  if #seen > 0 then
    redis.call('ZADD', KEYS[4], unpack(seen))
  end
end
for j = 1, count do
  local v = ARGV[2 * j - 1]
  local n = tonumber(ARGV[2 * j])
  if waiting[j] then
    -- recorded above
  elseif redis.call('ZSCORE', KEYS[6], v) then
    -- admitted since the poll: nothing to record
  elseif redis.call('ZSCORE', KEYS[5], v) then
    redis.call('ZREM', KEYS[5], v)
    redis.call('ZADD', KEYS[3], n, v)
    redis.call('ZADD', KEYS[4], now, v)
    restored = restored + 1
  elseif n > serving and not redis.call('ZSCORE', KEYS[8], v) then
    redis.call('ZADD', KEYS[3], n, v)
    redis.call('ZADD', KEYS[4], now, v)
    restored = restored + 1
    if n > top then
      top = n
    end
  end
end
if top > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') < top then
  redis.call('SET', KEYS[2], top)
end
return restored
