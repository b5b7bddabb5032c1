-- Change some settings of an existing room in one step (never resurrects a deleted room).
-- KEYS: 1 config
-- ARGV: field, value, ... ; a value of '' for opens_at clears the schedule
-- Returns 1 when the room existed and was changed.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
