-- Stores a value, counting a new key against the namespace's quota.
-- KEYS[1] the value, KEYS[2] the namespace's index (sorted set of its keys, all scored 0)
-- ARGV[1] the key, ARGV[2] the value, ARGV[3] max_keys
-- Returns 0 when stored, -1 when the key is new and the namespace is full.
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 0
