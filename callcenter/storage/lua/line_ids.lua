-- The ids of the waiting lines, unless the caller holds them as of the set's current change
-- count (bumped by every SADD or SREM that changes the set). Read only.
-- KEYS[1] set of line ids, KEYS[2] how often the set changed
-- ARGV[1] the change count of the ids the caller holds ('0': none)
-- Returns {count, id, ...}; only {count} when the caller's ids are current
local count = tonumber(redis.call('GET', KEYS[2]) or 0)
if count > 0 and count == tonumber(ARGV[1]) then return {count} end
local found = redis.call('SMEMBERS', KEYS[1])
table.insert(found, 1, count)
return found
