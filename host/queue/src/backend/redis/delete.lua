-- Deletes dead letters for good.
-- KEYS[1] dead letters
-- ARGV[1] item key prefix, ARGV[2] "all" | "ids", ARGV[3] how many at most (for "all"),
-- ARGV[4..] ids (for "ids")
-- Returns how many were deleted.
local ids
if ARGV[2] == 'all' then
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
else
  ids = {unpack(ARGV, 4)}
end
local deleted = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('DEL', ARGV[1] .. id)
    deleted = deleted + 1
  end
end
return deleted
