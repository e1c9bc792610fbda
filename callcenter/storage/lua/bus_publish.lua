-- Publish bus events in order, with consecutive sequence numbers, each stamped with the
-- bus epoch; keep them in the capped log a client that reconnects reads missed events from.
-- A sequence that went back (the counter lost by FLUSHALL, behind its own log after a
-- restore or a DECRBY) starts a new epoch: a fresh log and a sequence from 1, so listeners
-- see the change and start over instead of skipping numbers they think they had.
-- KEYS[1] sequence counter, KEYS[2] log stream, KEYS[3] epoch
-- ARGV[1] log length, ARGV[2] channel, ARGV[3..] the events as JSON objects without "seq"
-- Returns {epoch, the last event's sequence number}
local count = #ARGV - 2
local epoch = redis.call('GET', KEYS[3])
local last = redis.call('INCRBY', KEYS[1], count)
local first = last - count + 1
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if not epoch or (newest and tonumber(string.match(newest[1], '^%d+')) >= first) then
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], count)
  first, last = 1, count
end
local head = '{"seq":%d,"epoch":"' .. epoch .. '",'
for i = 3, #ARGV do
  local seq = first + i - 3
  local message = string.format(head, seq) .. string.sub(ARGV[i], 2)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-1', 'm', message)
  redis.call('PUBLISH', ARGV[2], message)
end
return {epoch, last}
