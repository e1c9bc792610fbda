-- commit.lua: store precomputed changes to versioned documents, all or nothing.
--
-- A document is a hash {v = version, d = JSON}. The caller computed the new documents
-- from versions it read; this script writes them only if every version is unchanged.
--
-- KEYS: every key the change touches.
-- ARGV[1]: JSON plan; keys are 1-based indexes into KEYS, values (a, below) indexes into
-- ARGV (the documents and tickets written are arguments of their own, not JSON in JSON):
--   guard: [k, ttl] or absent   -- if KEYS[k] exists return duplicate, else SET it (EX ttl)
--   docs:  [[k, expected, a, ttl], ...]
--          expected: version read (0 = must not exist); a: the new document, or false to
--          delete; ttl: seconds to expire (0 = no expiry, -1 = keep the current expiry)
--   zadd:  [[k, score, member], ...]   zrem: [[k, member], ...]
--   zadd_lt: [[k, score, member], ...] -- add, or only lower an existing score
--   sadd:  [[k, member, c?], ...]      srem: [[k, member], ...]
--          c: when the member is new, INCR KEYS[c] (the set's change count)
--   ztrim: [[k, max_score], ...]       -- ZREMRANGEBYSCORE k -inf max_score
--   hset:  [[k, field, a], ...]        hdel: [[k, field], ...]
--   hincr: [[k, field, t?, a?], ...]   -- HINCRBY k field 1; with t, HSET KEYS[t] field
--          to "<the new count> <ARGV[a]>" (what made that count)
--   set:   [[k, a, ttl], ...]          -- plain string with expiry (ttl > 0)
--   append: [[k, a, cap, ttl], ...]    -- RPUSH, keep the newest `cap` items, EXPIRE ttl
-- Returns: {1} committed | {0} duplicate (guard existed) | {-1, k} KEYS[k] changed meanwhile
-- The caller may WAIT for replicas after it (CALLCENTER_REDIS_ACK_REPLICAS).
local plan = cjson.decode(ARGV[1])

if plan.guard and redis.call('EXISTS', KEYS[plan.guard[1]]) == 1 then
  -- a write all the same (the guard's own expiry, unchanged), so that a caller waiting for
  -- replicas (WAIT) waits for everything before it, the first delivery's commit included
  local guard = KEYS[plan.guard[1]]
  local left = redis.call('PTTL', guard)
  if left > 0 then redis.call('PEXPIRE', guard, left) end
  return {0}
end
for _, doc in ipairs(plan.docs or {}) do
  local current = tonumber(redis.call('HGET', KEYS[doc[1]], 'v') or '0')
  if current ~= doc[2] then
    return {-1, doc[1]}
  end
end

if plan.guard then
  redis.call('SET', KEYS[plan.guard[1]], '1', 'EX', plan.guard[2])
end
for _, doc in ipairs(plan.docs or {}) do
  local key = KEYS[doc[1]]
  if doc[3] == false then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'v', doc[2] + 1, 'd', ARGV[doc[3]])
    if doc[4] > 0 then
      redis.call('EXPIRE', key, doc[4])
    elseif doc[4] == 0 then
      redis.call('PERSIST', key)
    end
  end
end
for _, op in ipairs(plan.zrem or {}) do redis.call('ZREM', KEYS[op[1]], op[2]) end
for _, op in ipairs(plan.zadd or {}) do redis.call('ZADD', KEYS[op[1]], op[2], op[3]) end
for _, op in ipairs(plan.zadd_lt or {}) do
  local current = redis.call('ZSCORE', KEYS[op[1]], op[3])
  if not current or tonumber(current) > op[2] then
    redis.call('ZADD', KEYS[op[1]], op[2], op[3])
  end
end
for _, op in ipairs(plan.srem or {}) do redis.call('SREM', KEYS[op[1]], op[2]) end
for _, op in ipairs(plan.sadd or {}) do
  if redis.call('SADD', KEYS[op[1]], op[2]) == 1 and op[3] then redis.call('INCR', KEYS[op[3]]) end
end
for _, op in ipairs(plan.ztrim or {}) do
  redis.call('ZREMRANGEBYSCORE', KEYS[op[1]], '-inf', op[2])
end
for _, op in ipairs(plan.hdel or {}) do redis.call('HDEL', KEYS[op[1]], op[2]) end
for _, op in ipairs(plan.hset or {}) do redis.call('HSET', KEYS[op[1]], op[2], ARGV[op[3]]) end
for _, op in ipairs(plan.hincr or {}) do
  local count = redis.call('HINCRBY', KEYS[op[1]], op[2], 1)
  if op[3] then redis.call('HSET', KEYS[op[3]], op[2], count .. ' ' .. ARGV[op[4]]) end
end
for _, op in ipairs(plan.set or {}) do redis.call('SET', KEYS[op[1]], ARGV[op[2]], 'EX', op[3]) end
for _, op in ipairs(plan.append or {}) do
  redis.call('RPUSH', KEYS[op[1]], ARGV[op[2]])
  redis.call('LTRIM', KEYS[op[1]], -op[3], -1)
  redis.call('EXPIRE', KEYS[op[1]], op[4])
end
return {1}
