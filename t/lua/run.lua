-- Runs every t/lua/test_*.lua under plain luajit, without PostgreSQL.
-- usage: luajit t/lua/run.lua [pattern]   (from the repository root)
-- The C API module is stood in for by t/lua/fake_capi.lua (the real hashing
-- and encoding functions, compiled stand-alone, plus recording stubs).
package.path = "lua/?.lua;lua/?/init.lua;t/lua/?.lua"
package.cpath = "t/lua/build/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so"

local T = require "testlib"
package.loaded["dynamo_lua_fdw.capi"] = require "fake_capi"
local pattern = arg[1]

local p = io.popen("ls t/lua/test_*.lua")
local files = {}
for f in p:lines() do
    if not pattern or f:find(pattern, 1, true) then files[#files + 1] = f end
end
p:close()

for _, f in ipairs(files) do
    T.file(f)
    local chunk, err = loadfile(f)
    if not chunk then
        T.fail_file(f, err)
    else
        local ok, e = pcall(chunk)
        if not ok then T.fail_file(f, e) end
    end
end
os.exit(T.summary() and 0 or 1)
