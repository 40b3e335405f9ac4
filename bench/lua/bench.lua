-- wrk script shared by every HTTP scenario (bench/README.md).
--
--   wrk ... -s bench/lua/bench.lua <url> -- <requests.tsv> [check|nocheck [start]]
--
-- The harness writes the requests; this script only replays them. Each line of
-- requests.tsv is one request, tab-separated:
--   EXPECT  METHOD  PATH  BODY  [HEADER-NAME  HEADER-VALUE]...
-- EXPECT ("2xx" or "session") is for the harness's pre-flight check; here any 2xx counts
-- as a success except a `null` body (get-session found no session). BODY "-" means none;
-- a body gets `Content-Type: application/json`. Every thread cycles through all lines,
-- starting at its own offset (from `start`, which the harness draws anew for every run), so
-- consecutive requests rotate users, sessions and task ids.
--
-- With "check" (the default in the harness) each response is inspected: non-2xx statuses
-- and `null` sessions are counted as errors. Without it wrk skips parsing bodies and only
-- its own counters (socket errors, timeouts, status > 399) are available.
--
-- done() prints one line, `BENCHJSON {...}`, that the harness parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local out, pos = {}, 1
  while true do
    local s, e = string.find(line, "\t", pos, true)
    if not s then
      table.insert(out, string.sub(line, pos))
      return out
    end
    table.insert(out, string.sub(line, pos, s - 1))
    pos = e + 1
  end
end

local reqs = {}
local n, idx = 0, 0
checked = false
ok, non2xx, nullsession, s3xx, s4xx, s5xx = 0, 0, 0, 0, 0, 0
codes = {}

function init(args)
  local file = assert(args[1], "usage: -- <requests.tsv> [check]")
  checked = args[2] == "check"
  for line in io.lines(file) do
    if line ~= "" then
      local f = split(line)
      local headers = {}
      for i = 5, #f - 1, 2 do
        headers[f[i]] = f[i + 1]
      end
      local body = f[4]
      if body == "-" or body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      n = n + 1
      reqs[n] = wrk.format(f[2], f[3], headers, body)
    end
  end
  assert(n > 0, "no requests in " .. file)
  idx = ((tonumber(args[3]) or 0) + (tid or 0) * 7919) % n
  if not checked then
    response = nil
  end
end

function request()
  idx = idx + 1
  if idx > n then idx = 1 end
  return reqs[idx]
end

-- Only get-session ever answers with the literal body `null` (no session found), so a
-- 2xx `null` is counted as a failed lookup whatever the scenario (the mixed one included).
function response(status, headers, body)
  if status >= 200 and status < 300 then
    if body == "null" then
      nullsession = nullsession + 1
    else
      ok = ok + 1
    end
  else
    non2xx = non2xx + 1
    if status < 400 then s3xx = s3xx + 1
    elseif status < 500 then s4xx = s4xx + 1
    else s5xx = s5xx + 1 end
    local k = tostring(status)
    codes[k] = (codes[k] or 0) + 1
  end
end

local function num(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.3f", x)
end

function done(summary, latency, requests)
  local t_ok, t_non2xx, t_null, t3, t4, t5, t_checked = 0, 0, 0, 0, 0, 0, true
  local allcodes = {}
  for _, thread in ipairs(threads) do
    if not thread:get("checked") then t_checked = false end
    t_ok = t_ok + (thread:get("ok") or 0)
    t_non2xx = t_non2xx + (thread:get("non2xx") or 0)
    t_null = t_null + (thread:get("nullsession") or 0)
    t3 = t3 + (thread:get("s3xx") or 0)
    t4 = t4 + (thread:get("s4xx") or 0)
    t5 = t5 + (thread:get("s5xx") or 0)
    local c = thread:get("codes") or {}
    for k, v in pairs(c) do allcodes[k] = (allcodes[k] or 0) + v end
  end
  local codeparts = {}
  for k, v in pairs(allcodes) do
    table.insert(codeparts, string.format('"%s":%d', k, v))
  end
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    table.insert(pct, string.format('"%s":%d', tostring(p), latency:percentile(p)))
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status_gt399":%d,"timeout":%d},' ..
    '"checked":%s,"ok":%d,"non2xx":%d,"null_session":%d,"s3xx":%d,"s4xx":%d,"s5xx":%d,' ..
    '"status_codes":{%s},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%s,"stdev":%s,"p":{%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    tostring(t_checked), t_ok, t_non2xx, t_null, t3, t4, t5,
    table.concat(codeparts, ","),
    latency.min, latency.max, num(latency.mean), num(latency.stdev),
    table.concat(pct, ",")))
end
