-- chat_starts.lua: count one more new chat in a client address's one-minute window.
-- KEYS[1]: the window's counter (cc:chatstarts:<address>)
-- ARGV[1]: the most chats the window allows; ARGV[2]: the window, milliseconds
-- Returns {1, 0} when this chat is within the limit, else {0, milliseconds until the window
-- ends}. The counter gets its TTL in the same step that makes it, so it never outlives it.
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if count <= tonumber(ARGV[1]) then
  return {1, 0}
end
return {0, ttl}
