-- calls_ahead.lua: what a waiting call has ahead of it in its queue, from the queue's lines
-- (members are ordered by routing order: see routing_index.place_in_line), in one round
-- trip: how many voice calls, and the tickets of the callbacks (some may be held back
-- until later: the caller tells). Read only.
-- KEYS[1] waiting hash (tickets by call id), KEYS[2] the queue's voice line, KEYS[3] its
-- callback line
-- ARGV[1] the call's member (its place; a member's call id starts at its 30th byte),
-- ARGV[2] its call id
-- Returns {voice calls ahead, the call's own ticket as stored, ticket, ticket, ...} (false
-- for a ticket that is gone): the caller tells whether the call itself, as stored, stands
-- ahead of the place it was asked about (it changed since it was read)
local before = '(' .. ARGV[1]
local found = {redis.call('ZLEXCOUNT', KEYS[2], '-', before), redis.call('HGET', KEYS[1], ARGV[2])}
local ids = {}
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[3], '-', before)) do
  ids[#ids + 1] = string.sub(member, 30)
end
for first = 1, #ids, 1000 do  -- HMGET in slices: unpack has a limit
  local tickets = redis.call('HMGET', KEYS[1], unpack(ids, first, math.min(first + 999, #ids)))
  for _, ticket in ipairs(tickets) do found[#found + 1] = ticket end
end
return found
