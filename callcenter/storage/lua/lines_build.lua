-- Put every queued call in its lines, once (a store written before lines existed): each
-- ticket is added only if the waiting hash still holds it as read, so a call that moved
-- on meanwhile is not added back. Marks the lines built.
-- KEYS[1] waiting hash, KEYS[2] set of line ids, KEYS[3] built marker, KEYS[4..] lines
-- ARGV: per call: call id, ticket as read, member, two pairs (line key index, line id),
-- then the key index of its queue line's arrivals and its arrival (Unix seconds)
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local added = 0
for i = 1, #ARGV, 9 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    for j = i + 3, i + 5, 2 do
      redis.call('ZADD', KEYS[tonumber(ARGV[j])], 0, ARGV[i + 2])
      redis.call('SADD', KEYS[2], ARGV[j + 1])
    end
    redis.call('ZADD', KEYS[tonumber(ARGV[i + 7])], ARGV[i + 8], ARGV[i])
    added = added + 1
  end
end
redis.call('SET', KEYS[3], '1')
return added
