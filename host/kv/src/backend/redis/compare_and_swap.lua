-- Replaces a value only if it is the expected one (or, if none is expected, only if absent).
-- KEYS[1] the value, KEYS[2] the namespace's index; ARGV[1] the key, ARGV[2] '1' when a
-- value is expected and '0' when the key must be absent, ARGV[3] the expected value,
-- ARGV[4] the new value, ARGV[5] max_keys
-- Returns 1 when swapped, 0 when the current value differs, -1 when the key is new and the
-- namespace is full.
local current = redis.call('GET', KEYS[1])
if ARGV[2] == '1' then
  if current ~= ARGV[3] then
    return 0
  end
else
  if current then
    return 0
  end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
    return -1
  end
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
