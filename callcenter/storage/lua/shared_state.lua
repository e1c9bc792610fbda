-- shared_state.lua: what the metrics gauges show, read atomically in one round trip.
--
-- KEYS[1]: the set of waiting line ids ({cc}:lines)
-- KEYS[2]: the offered calls index ({cc}:calls:offered)
-- KEYS[3]: the agent ids set ({cc}:agents)
-- KEYS[4..]: the call state indexes to count ({cc}:calls:<state>)
-- ARGV[1]: call key prefix ("{cc}:call:"); ARGV[2]: agent key prefix ("{cc}:agent:");
-- ARGV[3]: line key prefix ("{cc}:line:"); ARGV[4]: arrivals key prefix
-- Returns: {counts (one per KEYS[4..]), per queue line with calls {its id, how many, the
-- oldest arrival (Unix seconds)}, offered call documents (JSON or false), agent documents
-- (JSON or false)}: the backlog costs one ZCARD and one ZRANGE per queue line.
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
local lines = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(id, 1, 2) == 'q:' then
    local size = redis.call('ZCARD', ARGV[3] .. id)
    local first = redis.call('ZRANGE', ARGV[4] .. id, 0, 0, 'WITHSCORES')
    if size > 0 and first[2] then lines[#lines + 1] = {id, size, first[2]} end
  end
end
return {counts, lines, offered, agents}
