-- Adds to a counter with INCRBY, counting a new key against the namespace's quota.
-- KEYS[1] the value, KEYS[2] the namespace's index; ARGV[1] the key, ARGV[2] the delta,
-- ARGV[3] max_keys
-- Returns the new value as a string: Lua numbers are doubles, so an integer reply would lose
-- precision past 2^53. Or -1 (the key is new and the namespace is full), -2 (the value is not
-- an integer), -3 (the result would overflow); the value is then unchanged.
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return -1
end
local added = redis.pcall('INCRBY', KEYS[1], ARGV[2])
if type(added) == 'table' and added.err then
  -- INCRBY refuses a non-integer and an overflow alike; adding 0 fails only for the first.
  if type(redis.pcall('INCRBY', KEYS[1], 0)) == 'table' then
    return -2
  end
  return -3
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return redis.call('GET', KEYS[1])
