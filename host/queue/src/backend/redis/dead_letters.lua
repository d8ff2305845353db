-- One page of dead letters, in id order.
-- KEYS[1] dead letters
-- ARGV[1] item key prefix, ARGV[2] lowest score ("(<id>" after a cursor, else "-inf"),
-- ARGV[3] how many at most
-- Returns one array per dead letter: {id, ikey, okey, payload, attempts, enqueued at,
-- next attempt at, last error or nil, reason, dead at}.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3]))
local page = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'ikey', 'okey', 'payload', 'attempts', 'enq',
    'next', 'err', 'reason', 'dead_at')
  table.insert(page, {id, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]})
end
return page
