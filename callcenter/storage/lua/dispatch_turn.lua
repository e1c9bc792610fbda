-- Whose turn it is to run dispatch passes: one instance at a time, so that instances do
-- not plan the same ready agents at once and lose each other's claims.
-- KEYS[1] the turn (holder id, expiring), KEYS[2] "a pass is owed" flag, KEYS[3..] (take,
-- optional) the sets a pass plans from (the ready agents): all empty, nothing to plan
-- ARGV[1] "take" | "finish" | "release", ARGV[2] this instance's id, ARGV[3] turn length
-- (ms), ARGV[4] (finish) "1" when this instance itself asks for another pass
-- take:    owe a pass; take the turn if free or ours already (clearing the debt: the pass
--          about to run pays it). 1 when taken; 0 when another instance holds it (it will
--          see the debt). 2 when every set in KEYS[3..] is empty: nothing owed, nothing
--          taken.
-- finish:  after a pass; if a pass is owed (here or elsewhere) keep the turn (1: run
--          again), else give it up (0). 0 as well when the turn is no longer ours.
-- release: give the turn up whatever is owed (an instance stopping); the debt stays.
if ARGV[1] == 'take' then
  if #KEYS > 2 and redis.call('EXISTS', unpack(KEYS, 3)) == 0 then return 2 end
  redis.call('SET', KEYS[2], '1')
  if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3])
      or redis.call('GET', KEYS[1]) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    redis.call('DEL', KEYS[2])
    return 1
  end
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
if ARGV[1] == 'release' then
  redis.call('DEL', KEYS[1])
  return 0
end
if redis.call('DEL', KEYS[2]) == 1 or ARGV[4] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
