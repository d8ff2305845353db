-- wrk script: OpenIM after-send group messages as fast as wrk can post them, each with a
-- unique serverMsgID (so a unique idempotency key: none is dropped as a duplicate), spread
-- over 200 groups. Measures how fast hookbox answers after-callbacks while their plugins run
-- from the durable queue.
--
--   hookbox serve --config hookbox.toml     # a plugin on callbackAfterSendGroupMsgCommand
--   wrk -t1 -c32 -d15s --latency -s bench/wrk/after-callbacks.lua http://127.0.0.1:8080 -- run1
--
-- The argument after `--` prefixes every id; use a new one per run against the same
-- data_dir, or the queue drops the repeats as duplicates (queue.dedupe_window_secs).
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  counter = 0
  run = args[1] or tostring(os.time())
end
request = function()
  counter = counter + 1
  local id = run .. "-" .. tid .. "-" .. counter
  local group = "g" .. (counter % 200)
  local body = '{"sendID":"u1","callbackCommand":"callbackAfterSendGroupMsgCommand","serverMsgID":"m' .. id ..
    '","clientMsgID":"c' .. id .. '","operationID":"op","senderPlatformID":2,"senderNickname":"A","sessionType":3,' ..
    '"msgFrom":100,"contentType":101,"status":1,"sendTime":1767225600123,"createTime":1767225600100,' ..
    '"content":"{\\"content\\":\\"hi\\"}","seq":' .. counter .. ',"atUserList":null,"faceURL":"","ex":"","groupID":"' .. group .. '"}\n'
  return wrk.format("POST", "/openim/callbackAfterSendGroupMsgCommand", {["Content-Type"] = "application/json"}, body)
end
