-- Settles one lease: ack (the item leaves), retry (it stays at the head of its
-- conversation, delayed), or dead (it moves to the dead letters). When it leaves, the next
-- item of its conversation becomes ready, or delayed until its own next attempt time.
-- KEYS[1] ready stream, KEYS[2] delayed set, KEYS[3] stats, KEYS[4] dead letters,
-- KEYS[5] the item's conversation list
-- ARGV[1] group, ARGV[2] ticket, ARGV[3] item key prefix, ARGV[4] id, ARGV[5] generation,
-- ARGV[6] now (ms), ARGV[7] "ack" | "retry" | "dead", ARGV[8] retry at (ms), ARGV[9] error
-- Returns 1 when settled, 0 when the lease is no longer the caller's, -1 when the item is
-- not the head of its conversation (never expected; nothing is changed).
local item = ARGV[3] .. ARGV[4]
if redis.call('HGET', item, 'lease') ~= ARGV[5] or redis.call('HEXISTS', item, 'reason') == 1 then
  return 0
end
if redis.call('LINDEX', KEYS[5], 0) ~= ARGV[4] then
  return -1
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local how = ARGV[7]
if how == 'retry' then
  redis.call('HINCRBY', item, 'attempts', 1)
  redis.call('HSET', item, 'next', ARGV[8], 'err', ARGV[9])
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[4])
  return 1
end
redis.call('LPOP', KEYS[5])
redis.call('HINCRBY', KEYS[3], 'depth', -1)
if how == 'dead' then
  redis.call('HINCRBY', item, 'attempts', 1)
  redis.call('HSET', item, 'err', ARGV[9], 'reason', 'failed', 'dead_at', ARGV[6])
  redis.call('HDEL', item, 'lease')
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[4])
else
  redis.call('DEL', item)
end
local next_id = redis.call('LINDEX', KEYS[5], 0)
if next_id then
  local at = redis.call('HGET', ARGV[3] .. next_id, 'next')
  if tonumber(at) <= tonumber(ARGV[6]) then
    redis.call('XADD', KEYS[1], '*', 'id', next_id)
  else
    redis.call('ZADD', KEYS[2], at, next_id)
  end
end
return 1
