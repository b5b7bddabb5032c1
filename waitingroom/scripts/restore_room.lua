-- Put a room back after Redis lost its data, from a process's last snapshot.
-- KEYS: 1 config, 2 issued, 3 serving, 4 admission tick lock, 5 active
-- ARGV: 1 issued seen, 2 serving seen, 3 admission pause in ms, 4 sessions active when seen,
--       5 the latest they can end (unix s), 6.. config field, value, ...
-- Counters only ever rise, so several processes restoring at once agree on the highest.
-- Returns 1 when the config was written.

local written = 0
if redis.call('EXISTS', KEYS[1]) == 0 and #ARGV > 5 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 6))
  written = 1
end
-- The admitted visitors' sessions went with the data, but their tokens still work in the
-- ticketing app: placeholders hold their max_active slots until those sessions must have
-- ended, so admission does not let max_active more in on top of them. The same names from
-- every restoring process: together they hold the most any of them saw.
for i = 1, tonumber(ARGV[4]) do
  redis.call('ZADD', KEYS[5], 'NX', ARGV[5], 'restored:' .. i)
end
-- Waiting visitors come back one poll and one heartbeat batch at a time, each process on its
-- own clock. Admitting before they are all back would call a number that polled back early
-- and pass over lower numbers still on their way, whose turn would then be over: hold the
-- admission tick for a few poll intervals (each restoring process extends it once).
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[4], 'restore', 'PX', ARGV[3])
end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[1])
end
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[3], ARGV[2])
end
return written
