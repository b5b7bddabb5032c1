-- Join, or come back with a ticket: the one place a visitor receives a number.
-- KEYS: 1 config, 2 issued, 3 queue, 4 seen, 5 lapsed, 6 active, 7 serving, 8 left,
--       9 prequeue, 10 preseq, 11 prenum, 12 admlog, 13 recent
-- ARGV: 1 visitor from a valid ticket ('' = none), 2 its number (0 = none), 3 '1' when the
--       ticket is a pre-queue ticket, 4 visitor id for a fresh join, 5 shuffle seed,
--       6 '1' when a finished ticket may be replaced by a fresh number, 7 the highest number
--       this process has handed out or seen on a valid ticket (0 = none)
-- Returns {status, visitor, number[, session expiry]}; status is one of
--   missing, closed, queued, admitted, restored, new, pre (number = arrival order), done,
--   rejected (mode reject turns newcomers away), entered (a newcomer let straight through).
-- Modes act on newcomers only: whoever already holds a place keeps it in every mode.

local cfg = redis.call('HMGET', KEYS[1], 'state', 'opens_at', 'mode', 'admit_per_minute',
                       'max_active', 'session_ttl', 'standby_max_per_minute')
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

-- Passthrough and standby let a newcomer straight in when nobody is waiting, the room is open
-- and admitting (the knob at 0 still pauses), a session slot is free, and, for standby, fewer
-- than standby_max_per_minute went in during the last minute. Otherwise they queue in order.
local function straight_through(m, st, config, t)
  if st ~= 'open' or (tonumber(config[4]) or 0) <= 0 then
    return false
  end
  if redis.call('ZCARD', KEYS[3]) > 0 or redis.call('ZCARD', KEYS[9]) > 0 then
    return false
  end
  if redis.call('ZCOUNT', KEYS[6], '(' .. t, '+inf') >= tonumber(config[5]) then
    return false
  end
  if m == 'standby' then
    redis.call('ZREMRANGEBYSCORE', KEYS[13], '-inf', t - 60)
    -- A room written before the setting existed has the default of rooms.RoomConfig.
    if redis.call('ZCARD', KEYS[13]) >= (tonumber(config[7] or '600') or 600) then
      return false
    end
  end
  return true
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
local mode = cfg[3] or 'fifo'
if mode == 'reject' then
  return {'rejected'}
end
local fresh = ARGV[4]
if not is_open then
  local seq = redis.call('INCR', KEYS[10])
  redis.call('ZADD', KEYS[9], seq, fresh)
  return {'pre', fresh, seq}
end
local number = redis.call('INCR', KEYS[2])
if (mode == 'passthrough' or mode == 'standby') and straight_through(mode, state, cfg, now) then
  local expiry = now + tonumber(cfg[6])
  redis.call('ZADD', KEYS[6], expiry, fresh)
  -- Nobody waits (checked above), so this is the highest number called.
  if tonumber(redis.call('GET', KEYS[7]) or '0') < number then
    redis.call('SET', KEYS[7], number)
  end
  -- Counted in the measured admission rate like a tick's admissions.
  redis.call('ZADD', KEYS[12], now, tostring(now) .. ':' .. fresh .. ':1')
  if mode == 'standby' then
    redis.call('ZADD', KEYS[13], now, fresh)
  end
  return {'entered', fresh, number, tostring(expiry)}
end
redis.call('ZADD', KEYS[3], number, fresh)
redis.call('ZADD', KEYS[4], now, fresh)
return {'new', fresh, number}
