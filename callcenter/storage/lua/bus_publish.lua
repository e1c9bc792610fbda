-- Publish one bus event with the next sequence number, and keep it in the capped log a
-- client that reconnects reads its missed events from.
-- KEYS[1] sequence counter, KEYS[2] log stream
-- ARGV[1] the event as a JSON object without "seq", ARGV[2] log length, ARGV[3] channel
local seq = redis.call('INCR', KEYS[1])
local message = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-1', 'm', message)
redis.call('PUBLISH', ARGV[3], message)
return seq
