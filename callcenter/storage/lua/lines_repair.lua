-- Repair the waiting lines (the invariant sweep; and their first build, a store written
-- before lines existed, putting back every ticket): put back waiting calls missing from their
-- lines, and take out members that should not stand there, each only if the waiting hash
-- still holds the ticket as the sweep read it (a call that moved on meanwhile is left to
-- its own commit, and judged again at the next sweep).
-- KEYS[1] waiting hash, KEYS[2] set of line ids, KEYS[3] the lines' change counts (a call
-- put back counts as a change of its lines: agents parked on them look again), KEYS[4] the
-- lines' versions (bumped by every write: heads read before are stale), KEYS[5] how often
-- the set of lines changed, KEYS[6..] lines and arrivals
-- ARGV[1] how many calls to put back; then per call: call id, ticket as read, member, two
-- pairs (line key index, line id), the key index of its arrivals, its arrival (Unix
-- seconds); then per member to take out: key index, member, call id, the call's ticket as
-- read ('' when it was not waiting), the id of the line the key is of
local added, removed = 0, 0
local back = tonumber(ARGV[1])
local i = 2
for _ = 1, back do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    for j = i + 3, i + 5, 2 do
      redis.call('ZADD', KEYS[tonumber(ARGV[j])], 0, ARGV[i + 2])
      if redis.call('SADD', KEYS[2], ARGV[j + 1]) == 1 then redis.call('INCR', KEYS[5]) end
      redis.call('HINCRBY', KEYS[3], ARGV[j + 1], 1)
      redis.call('HINCRBY', KEYS[4], ARGV[j + 1], 1)
    end
    redis.call('ZADD', KEYS[tonumber(ARGV[i + 7])], ARGV[i + 8], ARGV[i])
    added = added + 1
  end
  i = i + 9
end
while i <= #ARGV do
  local now = redis.call('HGET', KEYS[1], ARGV[i + 2])
  if (now == false and ARGV[i + 3] == '') or now == ARGV[i + 3] then
    local taken = redis.call('ZREM', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
    if taken > 0 then redis.call('HINCRBY', KEYS[4], ARGV[i + 4], 1) end
    removed = removed + taken
  end
  i = i + 5
end
return {added, removed}
