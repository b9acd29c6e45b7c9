-- Stands in for the C API module (src/lua_api.c) in Lua unit tests: the real
-- crypto functions (compiled stand-alone from src/lua_crypto.c) plus stubs
-- that record what they are asked.  Tests replace fields as they need.
local crypto = require "dlf_crypto"

local M = { logged = {}, slept = {} }
for k, v in pairs(crypto) do M[k] = v end

local clock = 1440938160 -- 2015-08-30T12:36:00Z, the SigV4 test-vector time
function M.now() return clock end
function M.set_now(t) clock = t end
function M.log(level, msg) M.logged[#M.logged + 1] = { level = level, message = msg } end
function M.sleep(ms) M.slept[#M.slept + 1] = ms end
function M.check_interrupts() end
function M.getenv(name) return M.env and M.env[name] or nil end
function M.read_aws_file(kind) return M.aws_files and M.aws_files[kind] or nil, "no such file" end
function M.http_request(req)
    if M.http_handler then return M.http_handler(req) end
    error("fake_capi: no http_handler set for " .. tostring(req.url))
end
-- http_start records the request; the handler answers it when http_wait collects it.
local in_flight, next_id = {}, 0
M.started = 0
function M.http_start(req)
    next_id = next_id + 1
    in_flight[next_id] = req
    M.started = M.started + 1
    return next_id
end
function M.http_wait(id)
    local req = assert(in_flight[id], "fake_capi: request not in flight")
    in_flight[id] = nil
    return M.http_request(req)
end
function M.http_cancel(id) in_flight[id] = nil end
function M.in_flight()
    local n = 0
    for _ in pairs(in_flight) do n = n + 1 end
    return n
end
function M.http_in_flight() return M.in_flight() end
local persistent = {}
function M.persistent() return persistent end

return M
