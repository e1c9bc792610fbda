-- timers_due.lua: take up to ARGV[3] timers due by ARGV[1], leasing each for ARGV[2] s.
--
-- KEYS[1]: the timers sorted set (member = timer, score = due time, Unix seconds)
-- ARGV[1]: now (Unix seconds); ARGV[2]: lease seconds; ARGV[3]: how many at most
-- Returns: the due members. Each is pushed to now + lease instead of removed, so a timer
-- whose instance dies before handling it fires again on another; the handler removes it.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local lease_until = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], lease_until, member)
end
return due
