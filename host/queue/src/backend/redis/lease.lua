-- Leases up to ARGV[4] ready items of one plugin for one consumer.
-- KEYS[1] the ready stream, KEYS[2] the delayed set (heads waiting for a retry)
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] now (ms), ARGV[4] max,
-- ARGV[5] lease timeout (ms), ARGV[6] item key prefix
-- Returns one array per lease: {ticket, generation, id, ikey, okey, payload, attempts,
-- enqueued at, next attempt at, last error or nil}.
local ready, delayed = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local max = tonumber(ARGV[4])
-- Retries that are due become ready (a bounded number per call; the rest next call).
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[3], 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', delayed, id)
  redis.call('XADD', ready, '*', 'id', id)
end
-- From the start of the stream, so tickets added before the group existed are read.
-- Fails with BUSYGROUP once it exists, which is the point.
redis.pcall('XGROUP', 'CREATE', ready, group, '0', 'MKSTREAM')
local tickets = {}
-- Leases that outlived the timeout, whoever held them (a crashed replica, a hung call).
local cursor = '0-0'
for _ = 1, 10 do
  if #tickets >= max then break end
  local claimed = redis.call('XAUTOCLAIM', ready, group, consumer, ARGV[5], cursor,
    'COUNT', max - #tickets)
  for _, entry in ipairs(claimed[2]) do
    if type(entry) == 'table' and entry[2] then table.insert(tickets, entry) end
  end
  cursor = claimed[1]
  if cursor == '0-0' then break end
end
if #tickets < max then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #tickets,
    'STREAMS', ready, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do table.insert(tickets, entry) end
  end
end
local leased = {}
for _, entry in ipairs(tickets) do
  local ticket, id = entry[1], entry[2][2]
  local item = ARGV[6] .. id
  if redis.call('HEXISTS', item, 'okey') == 1 and redis.call('HEXISTS', item, 'reason') == 0 then
    local generation = redis.call('HINCRBY', item, 'lease', 1)
    local f = redis.call('HMGET', item, 'ikey', 'okey', 'payload', 'attempts', 'enq', 'next', 'err')
    table.insert(leased, {ticket, generation, id, f[1], f[2], f[3], f[4], f[5], f[6], f[7]})
  else
    -- A ticket for an item that is gone: never expected, dropped if met.
    redis.call('XACK', ready, group, ticket)
    redis.call('XDEL', ready, ticket)
  end
end
return leased
