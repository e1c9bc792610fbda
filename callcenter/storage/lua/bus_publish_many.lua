-- Publish several bus events at once, in order, with consecutive sequence numbers (as
-- bus_publish.lua does for one).
-- KEYS[1] sequence counter, KEYS[2] log stream
-- ARGV[1] log length, ARGV[2] channel, ARGV[3..] the events as JSON objects without "seq"
local count = #ARGV - 2
local last = redis.call('INCRBY', KEYS[1], count)
local seq = last - count
for i = 3, #ARGV do
  seq = seq + 1
  local message = '{"seq":' .. seq .. ',' .. string.sub(ARGV[i], 2)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-1', 'm', message)
  redis.call('PUBLISH', ARGV[2], message)
end
return last
