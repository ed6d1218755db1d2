-- wrk script for runs longer than a token lives: every thread re-reads the token from the file named by
-- BENCH_TOKEN_FILE at most once a second (the benchmark rewrites it, by rename, before the token expires)
-- and sends it as `Authorization: Bearer <token>`. The formatted request is cached between changes, so
-- each request costs one Lua call and one clock read.
local path = os.getenv("BENCH_TOKEN_FILE")
local token, checked, req = nil, -1, nil

local function reload()
  local f = io.open(path, "r")
  if not f then return end
  local t = f:read("*l")
  f:close()
  if t and t ~= "" and t ~= token then
    token = t
    req = nil
  end
end

request = function()
  local now = os.time()
  if now ~= checked then
    checked = now
    reload()
  end
  if not req then
    wrk.headers["Authorization"] = "Bearer " .. token
    req = wrk.format()
  end
  return req
end
