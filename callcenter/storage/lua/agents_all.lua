-- agents_all.lua: every agent document, in one round trip.
--
-- KEYS[1]: the agent ids set ({cc}:agents)
-- ARGV[1]: agent key prefix ("{cc}:agent:")
-- Returns: the agent documents (JSON), in no particular order; an id whose document is
-- missing is left out.
-- Agent keys are derived from the set, so they cannot be declared in KEYS; they share the
-- {cc} hash tag, so the script still touches a single slot. Read only.
local agents = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local document = redis.call('HGET', ARGV[1] .. id, 'd')
  if document then
    agents[#agents + 1] = document
  end
end
return agents
