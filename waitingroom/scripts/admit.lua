-- One admission tick for a room (DESIGN section 2, step 3).
-- KEYS: 1 tick lock, 2 config, 3 issued, 4 queue, 5 seen, 6 lapsed, 7 active, 8 serving,
--       9 bucket, 10 admlog, 11 left, 12 prequeue, 13 prenum, 14 recent
-- ARGV: 1 debounce ms (0 = no lock), 2 lapse seconds, 3 burst seconds, 4 shuffle seed,
--       5 most queue entries examined per tick, 6 seconds of history before the measured
--       rate is trusted, 7 time constant (s) of the measured no-show ratio
-- Modes (config 'mode'): fifo takes the lowest numbers; random draws among everyone waiting;
-- passthrough admits whoever waits as soon as max_active has room (no rate credit); standby
-- and reject admit like fifo (their difference is at join), standby also logs its admissions
-- in 'recent' so that joins see how many went in during the last minute.
-- Returns {admitted, lapsed, serving}; admitted = -1 when another tick ran within the
-- debounce interval, -2 when the room does not exist.

local c = redis.call('HMGET', KEYS[2], 'state', 'admit_per_minute', 'max_active',
                     'session_ttl', 'opens_at', 'mode')
if not c[1] then
  -- Checked before the lock: a request naming an unknown room writes nothing.
  return {-2, 0, 0}
end
local debounce = tonumber(ARGV[1])
if debounce > 0 and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', debounce) then
  return {-1, 0, 0}
end
local now = now_s()

-- Finished sessions free their slots.
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)

local opens_at = tonumber(c[5] or '')
local is_open = opens_at == nil or now >= opens_at
if is_open and opens_at ~= nil and redis.call('EXISTS', KEYS[12]) == 1 then
  open_prequeue(KEYS[12], KEYS[3], KEYS[4], KEYS[5], KEYS[13], ARGV[4], now)
end

local serving = tonumber(redis.call('GET', KEYS[8]) or '0')
local rate = tonumber(c[2]) or 0
if c[1] ~= 'open' or rate <= 0 or not is_open then
  -- Paused time earns no credit, and the measured rate starts over on reopening.
  redis.call('HDEL', KEYS[9], 'ts', 'since', 'rate_pm')
  return {0, 0, serving}
end

-- Token bucket: credit grows with time at the knob's rate, capped at burst seconds of it.
local per_s = rate / 60
local burst = math.max(1, per_s * tonumber(ARGV[3]))
local b = redis.call('HMGET', KEYS[9], 'credit', 'ts', 'since')
local credit, since
if b[2] then
  credit = math.min(burst, (tonumber(b[1]) or 0) + math.max(0, now - tonumber(b[2])) * per_s)
  since = tonumber(b[3]) or now
else
  credit = math.min(burst, 1)
  since = now
end

local mode = c[6] or 'fifo'
local slots = tonumber(c[3]) - redis.call('ZCARD', KEYS[7])
local want = math.min(math.floor(credit), slots)
if mode == 'passthrough' then
  want = slots
end
if mode == 'random' then
  math.randomseed(tonumber(ARGV[4]))
end
local expiry = now + tonumber(c[4])
local cutoff = now - tonumber(ARGV[2])
local max_scan = tonumber(ARGV[5])
local admitted, lapsed, scanned = 0, 0, 0
local top = serving
while admitted < want and scanned < max_scan do
  local take = math.min(want - admitted, max_scan - scanned)
  local batch
  if mode == 'random' then
    -- A lottery: one uniform draw among everyone still waiting (the drawn one leaves the
    -- queue below, so the draws are without replacement).
    local size = redis.call('ZCARD', KEYS[4])
    if size == 0 then
      break
    end
    local r = math.random(size) - 1
    batch = redis.call('ZRANGE', KEYS[4], r, r, 'WITHSCORES')
  else
    batch = redis.call('ZRANGE', KEYS[4], 0, take - 1, 'WITHSCORES')
  end
  if #batch == 0 then
    break
  end
  for i = 1, #batch, 2 do
    local v = batch[i]
    local n = tonumber(batch[i + 1])
    scanned = scanned + 1
    redis.call('ZREM', KEYS[4], v)
    local last = redis.call('ZSCORE', KEYS[5], v)
    redis.call('ZREM', KEYS[5], v)
    if last and tonumber(last) >= cutoff then
      redis.call('ZADD', KEYS[7], expiry, v)
      admitted = admitted + 1
      if mode == 'standby' then
        redis.call('ZADD', KEYS[14], now, v)
      end
    else
      -- Stopped polling: skipped without spending credit, restored when they come back.
      redis.call('ZADD', KEYS[6], n, v)
      lapsed = lapsed + 1
    end
    if n > top then
      top = n
    end
  end
end

-- Passthrough spends no credit it does not have: a later switch to fifo starts from zero.
credit = math.max(0, credit - admitted)
if top > serving then
  redis.call('SET', KEYS[8], top)
  serving = top
end
redis.call('HSET', KEYS[9], 'credit', tostring(credit), 'ts', tostring(now),
           'since', tostring(since))

-- Measured rate: admissions over the last minute (or since opening, when shorter).
if admitted > 0 then
  redis.call('ZADD', KEYS[10], now, tostring(now) .. ':' .. admitted)
end
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', now - 60)
local span = math.min(60, now - since)
if span >= tonumber(ARGV[6]) then
  local total = 0
  for _, entry in ipairs(redis.call('ZRANGE', KEYS[10], 0, -1)) do
    total = total + tonumber(string.match(entry, ':(%d+)$'))
  end
  redis.call('HSET', KEYS[9], 'rate_pm', tostring(total * 60 / span))
end

-- No-show ratio: of the visitors called, the share skipped for not polling, as counts that fade
-- with the time constant, so it follows the crowd of the last minutes.
if admitted + lapsed > 0 then
  local ns = redis.call('HMGET', KEYS[9], 'ns_called', 'ns_lapsed', 'ns_ts')
  local fade = 1
  if ns[3] then
    fade = math.exp(-math.max(0, now - tonumber(ns[3])) / tonumber(ARGV[7]))
  end
  local called = (tonumber(ns[1]) or 0) * fade + admitted + lapsed
  local skipped = (tonumber(ns[2]) or 0) * fade + lapsed
  redis.call('HSET', KEYS[9], 'ns_called', tostring(called), 'ns_lapsed', tostring(skipped),
             'ns_ts', tostring(now), 'noshow', tostring(skipped / called))
end
if mode == 'standby' then
  redis.call('ZREMRANGEBYSCORE', KEYS[14], '-inf', now - 60)
end

-- Numbers already called need no "gave up" marker any more.
redis.call('ZREMRANGEBYSCORE', KEYS[11], '-inf', serving)
return {admitted, lapsed, serving}
