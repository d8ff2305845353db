-- One plugin's numbers.
-- KEYS[1] stats, KEYS[2] dead letters, KEYS[3] ready stream
-- ARGV[1] group
-- Returns {depth, leased, dead letters, overflows, duplicates}.
local s = redis.call('HMGET', KEYS[1], 'depth', 'overflows', 'duplicates')
local leased = 0
local pending = redis.pcall('XPENDING', KEYS[3], ARGV[1])
if type(pending) == 'table' and not pending.err then
  leased = pending[1]
end
return {tonumber(s[1] or 0), leased, redis.call('ZCARD', KEYS[2]), tonumber(s[2] or 0),
  tonumber(s[3] or 0)}
