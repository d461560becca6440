-- wrk: POST /visits/{id}/register, each request with its own one-time form token and citizen.
-- Requests come through a trusted proxy from many addresses (X-Forwarded-For), as citizens do, so
-- the per-IP limits apply per citizen and not to the whole load. Two passes (args[6]): `code`
-- presses 获取验证码 for each citizen (the whole form, action=send_code); `register` submits the
-- form with the code the citizen's phone received (a fourth column of the citizens file, which
-- scripts/bench reads from the outbox between the passes; citizens without one are skipped).
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
  visit, categories_arg, windows_arg, file, pass = args[1], args[2], args[3], args[4], args[6]
  categories, windows, citizens = {}, {}, {}
  for c in categories_arg:gmatch("%d+") do table.insert(categories, c) end
  for w in windows_arg:gmatch("%d+") do table.insert(windows, w) end
  local i = 0
  for line in io.lines(file) do
    -- thread k takes lines k, k + n, k + 2n … so that no two threads share a token
    if i % tonumber(args[5]) == id and (pass == "code" or line:match("%S+ %S+ %S+ %d+")) then
      table.insert(citizens, line)
    end
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
  local token, id_number, phone, code = line:match("(%S+) (%S+) (%S+) ?(%d*)")
  local body = "form_token=" .. token .. "&id_number=" .. id_number .. "&phone=" .. phone
    .. "&category_id=" .. categories[math.random(#categories)]
    .. "&window_id=" .. windows[math.random(#windows)] .. fixed
    .. (pass == "code" and "&action=send_code" or "&code=" .. code)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = "http://" .. wrk.host .. ":" .. wrk.port,
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
  }
  return wrk.format("POST", path, headers, body)
end
