-- Publish bus events in order, with consecutive sequence numbers, each stamped with the
-- bus epoch; keep them in the capped log a client that reconnects reads missed events from.
-- A sequence that went back (the counter lost by FLUSHALL, or behind its own log after a
-- restore or a DECRBY: the log then refuses the first id) starts a new epoch: a fresh log
-- and a sequence from 1, so listeners see the change and start over instead of skipping
-- numbers they think they had. The check costs nothing more on the usual path.
-- KEYS[1] sequence counter, KEYS[2] log stream, KEYS[3] epoch
-- ARGV[1] log length, ARGV[2] channel, ARGV[3..] the events as JSON objects without "seq"
-- Returns {epoch, the last event's sequence number}
local count = #ARGV - 2
local epoch = redis.call('GET', KEYS[3])
local last = redis.call('INCRBY', KEYS[1], count)
local first = last - count + 1

local function start_epoch()
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], count)
  first, last = 1, count
end

local function message(seq, body)
  return '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(body, 2)
end

if not epoch then start_epoch() end
local head = message(first, ARGV[3])
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], first .. '-1', 'm', head)
if type(added) == 'table' and added.err then
  start_epoch()
  head = message(first, ARGV[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], first .. '-1', 'm', head)
end
redis.call('PUBLISH', ARGV[2], head)
for i = 4, #ARGV do
  local seq = first + i - 3
  local body = message(seq, ARGV[i])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-1', 'm', body)
  redis.call('PUBLISH', ARGV[2], body)
end
return {epoch, last}
