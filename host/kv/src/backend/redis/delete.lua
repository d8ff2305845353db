-- Removes a key and its index entry; a missing key is not an error.
-- KEYS[1] the value, KEYS[2] the namespace's index; ARGV[1] the key
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
