-- Puts dead letters back at the end of their conversations, with a new id and attempts
-- reset (the last error is kept).
-- KEYS[1] the id sequence, KEYS[2] dead letters, KEYS[3] stats, KEYS[4] ready stream
-- ARGV[1] the plugin's key prefix, ARGV[2] now (ms), ARGV[3] "all" | "ids",
-- ARGV[4] how many at most (for "all"), ARGV[5..] ids (for "ids")
-- Returns how many were replayed.
local ids
if ARGV[3] == 'all' then
  ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[4]) - 1)
else
  ids = {unpack(ARGV, 5)}
end
local replayed = 0
for _, old in ipairs(ids) do
  if redis.call('ZREM', KEYS[2], old) == 1 then
    local old_item = ARGV[1] .. 'item:' .. old
    local f = redis.call('HMGET', old_item, 'ikey', 'okey', 'payload', 'enq', 'err')
    local id = redis.call('INCR', KEYS[1])
    local item = ARGV[1] .. 'item:' .. id
    redis.call('HSET', item, 'ikey', f[1], 'okey', f[2], 'payload', f[3], 'attempts', 0,
      'enq', f[4], 'next', ARGV[2])
    if f[5] then redis.call('HSET', item, 'err', f[5]) end
    redis.call('DEL', old_item)
    redis.call('HINCRBY', KEYS[3], 'depth', 1)
    if redis.call('RPUSH', ARGV[1] .. 'conv:' .. f[2], id) == 1 then
      redis.call('XADD', KEYS[4], '*', 'id', id)
    end
    replayed = replayed + 1
  end
end
return replayed
