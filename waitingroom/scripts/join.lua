-- Join, or come back with a ticket: the one place a visitor receives a number.
-- KEYS: 1 config, 2 issued, 3 queue, 4 seen, 5 lapsed, 6 active, 7 serving, 8 left,
--       9 prequeue, 10 preseq, 11 prenum
-- ARGV: 1 visitor from a valid ticket ('' = none), 2 its number (0 = none), 3 '1' when the
--       ticket is a pre-queue ticket, 4 visitor id for a fresh join, 5 shuffle seed,
--       6 '1' when a finished ticket may be replaced by a fresh number, 7 the highest number
--       this process has handed out or seen on a valid ticket (0 = none)
-- Returns {status, visitor, number[, session expiry]}; status is one of
--   missing, closed, queued, admitted, restored, new, pre (number = arrival order), done.

local cfg = redis.call('HMGET', KEYS[1], 'state', 'opens_at')
if not cfg[1] then
  return {'missing'}
end
local state = cfg[1]
-- After a failover that lost acknowledged writes, ``issued`` can be behind numbers people hold:
-- never hand out a number at or below one this process has seen.
local floor = tonumber(ARGV[7] or '0')
if floor > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') < floor then
  redis.call('SET', KEYS[2], floor)
end
local opens_at = tonumber(cfg[2] or '')
local now = now_s()
local is_open = opens_at == nil or now >= opens_at
if is_open and opens_at ~= nil and redis.call('EXISTS', KEYS[9]) == 1 then
  open_prequeue(KEYS[9], KEYS[2], KEYS[3], KEYS[4], KEYS[11], ARGV[5], now)
end

local v = ARGV[1]
local n = tonumber(ARGV[2])

if v ~= '' and ARGV[3] == '1' then
  local drawn = redis.call('HGET', KEYS[11], v)
  if drawn then
    n = tonumber(drawn)
  elseif not is_open then
    if state == 'closed' then
      return {'closed'}
    end
    local seq = redis.call('ZSCORE', KEYS[9], v)
    if not seq then
      -- Redis lost the pre-queue (restart): the ticket puts the visitor back in it.
      seq = redis.call('INCR', KEYS[10])
      redis.call('ZADD', KEYS[9], seq, v)
    end
    return {'pre', v, tonumber(seq)}
  else
    v = ''
  end
end

if v ~= '' and n > 0 then
  if redis.call('ZSCORE', KEYS[3], v) then
    redis.call('ZADD', KEYS[4], now, v)
    return {'queued', v, n}
  end
  local expiry = redis.call('ZSCORE', KEYS[6], v)
  if expiry then
    return {'admitted', v, n, expiry}
  end
  if redis.call('ZSCORE', KEYS[5], v) then
    -- Lapsed and back: the head of the queue, with the original number.
    redis.call('ZREM', KEYS[5], v)
    redis.call('ZADD', KEYS[3], n, v)
    redis.call('ZADD', KEYS[4], now, v)
    return {'queued', v, n}
  end
  if not redis.call('ZSCORE', KEYS[8], v) then
    local serving = tonumber(redis.call('GET', KEYS[7]) or '0')
    if n > serving then
      -- Not called yet but unknown here: Redis lost it, the signed ticket proves the place.
      redis.call('ZADD', KEYS[3], n, v)
      redis.call('ZADD', KEYS[4], now, v)
      if tonumber(redis.call('GET', KEYS[2]) or '0') < n then
        redis.call('SET', KEYS[2], n)
      end
      return {'restored', v, n}
    end
  end
  if ARGV[6] ~= '1' then
    return {'done', v, n}
  end
end

if state == 'closed' then
  return {'closed'}
end
local fresh = ARGV[4]
if not is_open then
  local seq = redis.call('INCR', KEYS[10])
  redis.call('ZADD', KEYS[9], seq, fresh)
  return {'pre', fresh, seq}
end
local number = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], number, fresh)
redis.call('ZADD', KEYS[4], now, fresh)
return {'new', fresh, number}
