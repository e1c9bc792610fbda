-- agents_in.lua: the documents of the agents in one set of agent ids (or in any of
-- several), in one round trip.
--
-- KEYS: the sets of agent ids ({cc}:ready, and with it {cc}:ready:voice: the ready
-- agents, a few at a time; every agent is read in slices: see documents_of.lua)
-- ARGV[1]: agent key prefix ("{cc}:agent:")
-- Returns: the agent documents (JSON), in no particular order; an id whose document is
-- missing is left out.
-- Agent keys are derived from the sets, so they cannot be declared in KEYS; they share the
-- {cc} hash tag, so the script still touches a single slot. Read only.
local ids
if #KEYS == 1 then
  ids = redis.call('SMEMBERS', KEYS[1])
else
  ids = redis.call('SUNION', unpack(KEYS))
end
local agents = {}
for _, id in ipairs(ids) do
  local document = redis.call('HGET', ARGV[1] .. id, 'd')
  if document then
    agents[#agents + 1] = document
  end
end
return agents
