-- Start a new bus epoch, unless another instance already did: for a sequence that went
-- back within one epoch (a restore from an older snapshot, a failover to a replica that
-- lagged), which only a listener that saw the higher numbers can tell.
-- KEYS[1] sequence counter, KEYS[2] log stream, KEYS[3] epoch
-- ARGV[1] the epoch the caller found (empty: none)
-- Returns {epoch, sequence counter} as they are afterwards
local epoch = redis.call('GET', KEYS[3]) or ''
if epoch == ARGV[1] then
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], 0)
end
return {epoch, tonumber(redis.call('GET', KEYS[1]) or '0')}
