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
for i = 1, #ARGV, 2 do
  local v = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  if redis.call('ZSCORE', KEYS[3], v) then
    redis.call('ZADD', KEYS[4], now, v)
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
