-- wrk: POST /visits/{id}/register, each request with its own one-time form token and citizen.
-- Requests come through a trusted proxy from many addresses (X-Forwarded-For), as citizens do, so
-- the per-IP limit applies per citizen and not to the whole load.
local counter, threads = 0, {}

function setup(thread)
  thread:set("id", counter)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
  counter = counter + 1
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  visit, categories_arg, windows_arg, file = args[1], args[2], args[3], args[4]
  categories, windows, citizens = {}, {}, {}
  for c in categories_arg:gmatch("%d+") do table.insert(categories, c) end
  for w in windows_arg:gmatch("%d+") do table.insert(windows, w) end
  local i = 0
  for line in io.lines(file) do
    -- thread k takes lines k, k + n, k + 2n … so that no two threads share a token
    if i % tonumber(args[5]) == id then table.insert(citizens, line) end
    i = i + 1
  end
  next_index = 1
  path = "/visits/" .. visit .. "/register"
  fixed = "&name=" .. urlencode("张三") .. "&address=" .. urlencode("浦阳街道人民路1号")
       .. "&township=" .. urlencode("浦阳街道") .. "&persons=1&representatives="
       .. "&grievance=" .. urlencode("反映村道路面破损、雨天积水，希望尽快修复。") .. "&consent=on"
end

function request()
  local line = citizens[next_index]
  next_index = next_index + 1
  if line == nil then return wrk.format("GET", "/healthz") end
  local token, id_number, phone = line:match("(%S+) (%S+) (%S+)")
  local body = "form_token=" .. token .. "&id_number=" .. id_number .. "&phone=" .. phone
    .. "&category_id=" .. categories[math.random(#categories)]
    .. "&window_id=" .. windows[math.random(#windows)] .. fixed
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = "http://" .. wrk.host .. ":" .. wrk.port,
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
  }
  return wrk.format("POST", path, headers, body)
end
