-- timers_done.lua: remove a handled timer, unless it was set again meanwhile.
--
-- KEYS[1]: the timers sorted set
-- ARGV[1]: the member; ARGV[2]: the lease end it was taken with (Unix seconds)
-- Returns: 1 removed, 0 kept (gone already, or rescheduled earlier than its lease end by a
-- newer change, which must still fire).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) >= tonumber(ARGV[2]) - 0.001 then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
