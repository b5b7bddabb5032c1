-- Shared helpers, prepended to every script that needs them (Redis has no Lua modules).

local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- At opening, everyone in the pre-queue receives a number in a random order: arriving a second
-- before the start is worth the same as arriving an hour before. Redis seeds Lua's generator
-- identically on every call, so the caller passes a fresh seed.
local function open_prequeue(prequeue, issued, queue, seen, prenum, seed, now)
  local members = redis.call('ZRANGE', prequeue, 0, -1)
  local count = #members
  if count == 0 then
    return 0
  end
  math.randomseed(tonumber(seed))
  for i = count, 2, -1 do
    local j = math.random(i)
    members[i], members[j] = members[j], members[i]
  end
  for i = 1, count do
    local v = members[i]
    local n = redis.call('INCR', issued)
    redis.call('ZADD', queue, n, v)
    redis.call('ZADD', seen, now, v)
    redis.call('HSET', prenum, v, n)
  end
  redis.call('DEL', prequeue)
  return count
end
