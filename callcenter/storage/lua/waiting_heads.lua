-- The heads of waiting lines: for each line, its length, its change count, and the tickets
-- of its first members (false for a member whose ticket is gone). A line found empty leaves
-- the set of lines (a commit that fills it again adds it back, atomically with its member).
-- KEYS[1] waiting hash, KEYS[2] set of line ids, KEYS[3] the lines' change counts,
-- KEYS[4..] the lines
-- ARGV: per line (in the order of KEYS[4..]): its id, how many of its first members to read
-- Returns {{length, changes, ticket, ...}, ...} in the order of the lines
local found = {}
for i = 4, #KEYS do
  local id = ARGV[2 * i - 7]
  local size = redis.call('ZCARD', KEYS[i])
  local head = {size, tonumber(redis.call('HGET', KEYS[3], id) or 0)}
  if size == 0 then
    redis.call('SREM', KEYS[2], id)
  else
    local length = tonumber(ARGV[2 * i - 6])
    local ids = {}
    for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, length - 1)) do
      ids[#ids + 1] = string.sub(member, 30)
    end
    for first = 1, #ids, 1000 do  -- HMGET in slices: unpack has a limit
      local tickets = redis.call('HMGET', KEYS[1], unpack(ids, first, math.min(first + 999, #ids)))
      for _, ticket in ipairs(tickets) do head[#head + 1] = ticket end
    end
  end
  found[#found + 1] = head
end
return found
