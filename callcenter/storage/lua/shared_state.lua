-- shared_state.lua: what the metrics gauges show, read atomically in one round trip.
--
-- KEYS[1]: the waiting-tickets hash ({cc}:waiting)
-- KEYS[2]: the offered calls index ({cc}:calls:offered)
-- KEYS[3]: the agent ids set ({cc}:agents)
-- KEYS[4..]: the call state indexes to count ({cc}:calls:<state>)
-- ARGV[1]: call key prefix ("{cc}:call:"); ARGV[2]: agent key prefix ("{cc}:agent:")
-- Returns: {counts (one per KEYS[4..]), waiting tickets (JSON), offered call documents
-- (JSON or false), agent documents (JSON or false)}.
-- Call and agent keys are derived from the indexes, so they cannot be declared in KEYS;
-- they share the {cc} hash tag, so the script still touches a single slot. Read only.
local counts = {}
for i = 4, #KEYS do
  counts[#counts + 1] = redis.call('ZCARD', KEYS[i])
end
local offered = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  offered[#offered + 1] = redis.call('HGET', ARGV[1] .. id, 'd') or false
end
local agents = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  agents[#agents + 1] = redis.call('HGET', ARGV[2] .. id, 'd') or false
end
return {counts, redis.call('HVALS', KEYS[1]), offered, agents}
