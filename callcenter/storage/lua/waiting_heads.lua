-- The heads of waiting lines: for each line, its length, its change count, its version, the
-- document of its first call (the call a pass most often decides on: the claim needs it),
-- and the tickets of its first members (false for a member whose ticket is gone); or, when
-- the caller already holds the head of the line's current version, no tickets. A line found
-- empty leaves the set of lines (a commit that fills it again adds it back, atomically with
-- its member). Call keys are derived from the members, so they cannot be declared in KEYS;
-- they share the {cc} hash tag, so the script still touches a single slot.
-- KEYS[1] waiting hash, KEYS[2] set of line ids, KEYS[3] the lines' change counts,
-- KEYS[4] the lines' versions (bumped by every write to a line), KEYS[5] how often the set
-- of lines changed, KEYS[6..] the lines
-- ARGV[1] call key prefix ("{cc}:call:"); then per line (in the order of KEYS[6..]): its
-- id, how many of its first members to read, the version of the head the caller holds ('0':
-- none), the id of the first call of that head ('')
-- Returns {{length, changes, version, held, first call, ticket, ...}, ...} in the order of
-- the lines; held is 1 when the caller's head is of the current version (no tickets
-- follow), else 0; first call is false for an empty line (for a head held: the document of
-- the call the caller named)
local found = {}
for i = 6, #KEYS do
  local at = 1 + 4 * (i - 6)
  local id = ARGV[at + 1]
  local size = redis.call('ZCARD', KEYS[i])
  local version = tonumber(redis.call('HGET', KEYS[4], id) or 0)
  local head = {size, tonumber(redis.call('HGET', KEYS[3], id) or 0), version, 0, false}
  if size == 0 then
    if redis.call('SREM', KEYS[2], id) == 1 then redis.call('INCR', KEYS[5]) end
  elseif version > 0 and version == tonumber(ARGV[at + 3]) then
    head[4] = 1
    head[5] = redis.call('HGET', ARGV[1] .. ARGV[at + 4], 'd')
  else
    local length = tonumber(ARGV[at + 2])
    local ids = {}
    for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, length - 1)) do
      ids[#ids + 1] = string.sub(member, 30)
    end
    head[5] = redis.call('HGET', ARGV[1] .. ids[1], 'd')
    for first = 1, #ids, 1000 do  -- HMGET in slices: unpack has a limit
      local tickets = redis.call('HMGET', KEYS[1], unpack(ids, first, math.min(first + 999, #ids)))
      for _, ticket in ipairs(tickets) do head[#head + 1] = ticket end
    end
  end
  found[#found + 1] = head
end
return found
