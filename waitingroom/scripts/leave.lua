-- A visitor gives up their place or admission slot, at once.
-- KEYS: 1 queue, 2 seen, 3 lapsed, 4 active, 5 left, 6 prequeue, 7 prenum
-- ARGV: 1 visitor, 2 number (0 for a pre-queue ticket)
-- Returns 1 when the visitor held a place or slot.

local v = ARGV[1]
local n = tonumber(ARGV[2])
local held = redis.call('ZREM', KEYS[1], v) + redis.call('ZREM', KEYS[4], v)
  + redis.call('ZREM', KEYS[3], v) + redis.call('ZREM', KEYS[6], v)
redis.call('ZREM', KEYS[2], v)
redis.call('HDEL', KEYS[7], v)
if n > 0 then
  -- Remembered so that a stale copy of the ticket does not bring the place back.
  redis.call('ZADD', KEYS[5], n, v)
end
if held > 0 then
  return 1
end
return 0
