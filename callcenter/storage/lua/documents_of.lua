-- documents_of.lua: the documents of some of the agents (or of any kind of document keyed
-- by prefix and id), in one command of bounded length: a reader of every agent sends the
-- ids in slices, so that Redis serves other clients between them instead of being held
-- for the whole read (15,000 agents in one script held it for about 45 ms).
--
-- KEYS[1]: the set the ids come from (declared so the script runs where the documents
-- live: they share its {cc} hash tag); not read
-- ARGV[1]: the key prefix ("{cc}:agent:"); ARGV[2..]: the ids
-- Returns: the documents (JSON), in the order of the ids; an id whose document is missing
-- is left out. Read only.
local documents = {}
for i = 2, #ARGV do
  local document = redis.call('HGET', ARGV[1] .. ARGV[i], 'd')
  if document then
    documents[#documents + 1] = document
  end
end
return documents
