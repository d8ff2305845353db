-- Enqueues one item for several plugins at once: the dedupe check, a new id, and for each
-- plugin either its copy at the end of the conversation or, when its queue is full, a dead
-- letter with reason "overflow".
-- KEYS[1] the id sequence, KEYS[2] the idempotency key's dedupe key
-- ARGV[1] now (ms), ARGV[2] dedupe window (ms, 0 = off), ARGV[3] max items per plugin,
-- ARGV[4] idempotency key, ARGV[5] ordering key, ARGV[6] payload,
-- ARGV[7..] each plugin's key prefix ("hookbox:{queue}:plugin:<name>:")
-- Returns {"duplicate", original id} or {"queued", id, position of each overflowed plugin}.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_items = tonumber(ARGV[3])
if window > 0 then
  -- "<first seen at>:<id>"; the TTL only cleans up, the caller's clock decides.
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local colon = string.find(seen, ':', 1, true)
    if now < tonumber(string.sub(seen, 1, colon - 1)) + window then
      for i = 7, #ARGV do
        redis.call('HINCRBY', ARGV[i] .. 'stats', 'duplicates', 1)
      end
      return {'duplicate', string.sub(seen, colon + 1)}
    end
  end
end
local id = redis.call('INCR', KEYS[1])
if window > 0 then
  redis.call('SET', KEYS[2], ARGV[1] .. ':' .. id, 'PX', window)
end
local overflowed = {}
for i = 7, #ARGV do
  local prefix = ARGV[i]
  local item = prefix .. 'item:' .. id
  redis.call('HSET', item, 'ikey', ARGV[4], 'okey', ARGV[5], 'payload', ARGV[6],
    'attempts', 0, 'enq', ARGV[1], 'next', ARGV[1])
  local depth = tonumber(redis.call('HGET', prefix .. 'stats', 'depth') or '0')
  if depth >= max_items then
    redis.call('HSET', item, 'reason', 'overflow', 'dead_at', ARGV[1])
    redis.call('ZADD', prefix .. 'dead', id, id)
    redis.call('HINCRBY', prefix .. 'stats', 'overflows', 1)
    table.insert(overflowed, i - 6)
  else
    redis.call('HINCRBY', prefix .. 'stats', 'depth', 1)
    -- The first item of a conversation is its head: ready at once.
    if redis.call('RPUSH', prefix .. 'conv:' .. ARGV[5], id) == 1 then
      redis.call('XADD', prefix .. 'ready', '*', 'id', id)
    end
  end
end
return {'queued', id, unpack(overflowed)}
