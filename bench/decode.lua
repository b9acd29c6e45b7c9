-- The decode floor of bench/run.sh's replay mode: bare LuaJIT + lua-cjson decoding the same
-- captured Scan pages the replay server sends, PAGES pages per run (cycling through the files),
-- counting the items.  Prints one JSON object: items per run, the runs' wall times in ms, rows/s.
--
--   luajit bench/decode.lua DIR PAGES RUNS [CJSON_PATH]
local ffi = require "ffi"
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } dlf_timespec;
int clock_gettime(int clk_id, dlf_timespec *tp);
]]
local ts = ffi.new("dlf_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local dir, pages, runs, cjson_path = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local cjson = package.loadlib(cjson_path or "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so", "luaopen_cjson")()

local bodies = {}
while true do
    local f = io.open(string.format("%s/page%d.json", dir, #bodies), "rb")
    if not f then break end
    bodies[#bodies + 1] = f:read("*a")
    f:close()
end
assert(#bodies > 0, "no captured pages in " .. dir)

local function once()
    local items = 0
    for p = 1, pages do
        local doc = cjson.decode(bodies[(p - 1) % #bodies + 1])
        items = items + #doc.Items
    end
    return items
end

local items = once() -- warm-up
local ms = {}
for r = 1, runs do
    collectgarbage()
    local t0 = now_ms()
    assert(once() == items)
    ms[r] = now_ms() - t0
end
local sorted = {}
for i, v in ipairs(ms) do sorted[i] = v end
table.sort(sorted)
local n = #sorted
local med = n % 2 == 1 and sorted[(n + 1) / 2] or (sorted[n / 2] + sorted[n / 2 + 1]) / 2
local parts = {}
for i, v in ipairs(ms) do parts[i] = string.format("%.3f", v) end
print(string.format('{"items":%d,"ms":[%s],"median_ms":%.3f,"rows_per_s":%.0f}',
    items, table.concat(parts, ","), med, items / (med / 1000)))
