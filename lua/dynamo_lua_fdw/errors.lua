-- Structured errors: the C boundary (src/lua_host.c) turns a table raised here
-- into ereport(ERROR) with its SQLSTATE, message, detail and hint.
-- Messages follow PostgreSQL style: lower case, no trailing period;
-- detail and hint are full sentences.
local M = {}

local error_mt = {
    __tostring = function(e) return e.message end,
}

-- raise{sqlstate = "HV000", message = "...", detail = "...", hint = "..."}
function M.raise(e)
    e.sqlstate = e.sqlstate or "HV000"
    error(setmetatable(e, error_mt), 0)
end

-- A DynamoDB answer of the right JSON type but the wrong shape (what it lacked is `what`).
function M.malformed(operation, what)
    M.raise{ sqlstate = "HV000", message = string.format("malformed DynamoDB %s response", operation),
        detail = string.format("The response %s.", what),
        hint = "Check that the endpoint is a DynamoDB endpoint." }
end

-- True when err was raised by M.raise (rather than a plain Lua error string).
function M.is_structured(err)
    return getmetatable(err) == error_mt
end

-- A user's script: require "dynamo_lua_fdw.<kind>s.<name>" (mappings, routers).  Only the file
-- being absent is "not found", with the option that named it; the script's own errors pass on.
function M.require_script(kind, name, option)
    local modname = "dynamo_lua_fdw." .. kind .. "s." .. name
    local ok, m = pcall(require, modname)
    if ok then return m end
    if M.is_structured(m) or not tostring(m):find("module '" .. modname .. "' not found", 1, true) then
        error(m, 0)
    end
    M.raise{ sqlstate = "HV000", message = string.format("%s script \"%s\" not found", kind, name),
        hint = string.format("%s names a file dynamo_lua_fdw/%ss/<name>.lua under dynamo_lua_fdw.script_path.",
            option, kind) }
end

return M
