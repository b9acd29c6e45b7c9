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

return M
