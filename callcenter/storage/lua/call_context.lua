-- call_context.lua: read a call and the agents it involves in one round trip.
--
-- KEYS[1]: the call document key ({cc}:call:<id>)
-- ARGV[1]: agent key prefix ("{cc}:agent:"); ARGV[2]: another agent id to read, or ""
-- Returns: {call JSON or false, agent JSON or false, ...} for the call's own agent (if the
-- call names one, or the agent an offered call is reserved for) and then ARGV[2] (if given and different).
-- The agent keys are derived here from the call document, so they cannot be declared in
-- KEYS; they share the call's {cc} hash tag, so the script still touches a single slot.
local call = redis.call('HGET', KEYS[1], 'd')
local ids = {}
if call then
  local ok, doc = pcall(cjson.decode, call)
  if ok and type(doc.agent_id) == 'string' then
    ids[1] = doc.agent_id
  elseif ok and type(doc.reservation) == 'table' and type(doc.reservation.agent_id) == 'string' then
    ids[1] = doc.reservation.agent_id  -- offered: the agent it is reserved for
  end
end
if ARGV[2] ~= '' and ARGV[2] ~= ids[1] then ids[#ids + 1] = ARGV[2] end
local out = {call or false}
for _, id in ipairs(ids) do
  out[#out + 1] = redis.call('HGET', ARGV[1] .. id, 'd') or false
end
return out
