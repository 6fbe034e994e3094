-- A realistic mix: stops rotating among running, idle, foreign (403) and unknown (404) chats, and
-- each stopped chat re-armed LAG cycles later (POST /__mock/chats/{id}/generate), so the running
-- ones really run when their stop arrives. Every thread has its own slice of the running pool.
-- A re-armed answer is what a new message gets: ~60 words (15 s at the default pace), not endless
-- (repeat: true builds 20,000 chunks up front, which would dominate the mix).
-- Arguments: -- FILE API-KEY THREADS [LAG]; FILE has "kind id" lines (bench/seeds.py).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[3])
  lag = tonumber(args[4] or "64")
  ids = { running = {}, idle = {}, foreign = {}, unknown = {} }
  local n = 0
  for line in io.lines(args[1]) do
    local kind, id = line:match("^(%S+) (%S+)$")
    if kind == "running" then
      if n % nthreads == tid then table.insert(ids.running, id) end
      n = n + 1
    elseif kind then
      table.insert(ids[kind], id)
    end
  end
  key = { ["x-api-key"] = args[2] }
  json = { ["content-type"] = "application/json" }
  arm = '{"repeat":false,"text":"' .. string.rep("Here is one more sentence of a long answer. ", 8) .. '"}'
  i = 0
  tally = { stopped_true = 0, stopped_false = 0, forbidden = 0, not_found = 0, armed = 0, other = 0 }
end

local function stop(list, n)
  return wrk.format("POST", "/api/chat/" .. list[n % #list + 1] .. "/stop", key)
end

function request()
  -- wrk calls request() once on thread 0 to check the script and discards what it returns: that
  -- call gets an idle stop, so no running chat misses its stop (and its re-arm a 409).
  if tid == 0 and not checked then
    checked = true
    return stop(ids.idle, 0)
  end
  local step, n = i % 5, math.floor(i / 5)
  i = i + 1
  if step == 0 then return stop(ids.running, n) end
  if step == 1 then return stop(ids.idle, n) end
  if step == 2 then return stop(ids.foreign, n) end
  if step == 3 then return stop(ids.unknown, n) end
  if n < lag then return stop(ids.idle, n) end
  local chat = ids.running[(n - lag) % #ids.running + 1]
  return wrk.format("POST", "/__mock/chats/" .. chat .. "/generate", json, arm)
end

function response(status, headers, body)
  if status == 200 and body:find('"stopped": *true') then
    tally.stopped_true = tally.stopped_true + 1
  elseif status == 200 and body:find('"stopped": *false') then
    tally.stopped_false = tally.stopped_false + 1
  elseif status == 200 or status == 201 or status == 202 then
    tally.armed = tally.armed + 1
  elseif status == 403 then
    tally.forbidden = tally.forbidden + 1
  elseif status == 404 then
    tally.not_found = tally.not_found + 1
  else
    tally.other = tally.other + 1
    local name = "status_" .. status
    tally[name] = (tally[name] or 0) + 1
  end
end

function extra()
  local sum = {}
  for _, thread in ipairs(threads) do
    for name, count in pairs(thread:get("tally")) do sum[name] = (sum[name] or 0) + count end
  end
  local parts = {}
  for name, count in pairs(sum) do table.insert(parts, string.format('"%s":%d', name, count)) end
  return ',"tally":{' .. table.concat(parts, ",") .. "}"
end
