-- A very small test library: test(name, fn), eq, ok, raises; prints TAP-like lines.
local M = {}
local passed, failed, current_file = 0, 0, "?"

-- Where the shared test data lives: ../shared/testdata beside the repository.
M.testdata = os.getenv("DLF_TESTDATA") or "../shared/testdata"

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    if type(v) ~= "table" then return tostring(v) end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ", ") .. "}"
end
M.show = show

local function deep_equal(a, b)
    if type(a) ~= type(b) then return false end
    if type(a) ~= "table" then return a == b end
    for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end

function M.eq(actual, expected, what)
    if not deep_equal(actual, expected) then
        error(string.format("%s: expected %s, got %s", what or "value", show(expected), show(actual)), 2)
    end
end

function M.ok(cond, what)
    if not cond then error((what or "condition") .. " is false", 2) end
end

-- Asserts that fn raises an error whose text (or .message / .sqlstate) contains each given string.
function M.raises(fn, ...)
    local ok, err = pcall(fn)
    if ok then error("expected an error, got none", 2) end
    local text = type(err) == "table" and ((err.sqlstate or "") .. " " .. (err.message or "") .. " "
        .. (err.detail or "") .. " " .. (err.hint or "")) or tostring(err)
    for _, needle in ipairs({ ... }) do
        if not text:find(needle, 1, true) then
            error(string.format("error %q does not contain %q", text, needle), 2)
        end
    end
    return err
end

function M.read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

function M.file(name) current_file = name end

function M.fail_file(name, err)
    failed = failed + 1
    print(string.format("not ok - %s did not load: %s", name, tostring(err)))
end

function M.test(name, fn)
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
        passed = passed + 1
        print(string.format("ok - %s: %s", current_file, name))
    else
        failed = failed + 1
        print(string.format("not ok - %s: %s\n#   %s", current_file, name,
            tostring(type(err) == "table" and show(err) or err):gsub("\n", "\n#   ")))
    end
end

function M.summary()
    print(string.format("lua unit tests: %d passed, %d failed", passed, failed))
    return failed == 0
end

-- Gives a stub client that has only call() the start/finish/cancel of aws/client.lua; the
-- stub is called when a request is finished.
function M.with_async(c)
    c.start = function(_, op, params) return { op = op, params = params, id = 1 } end
    c.finish = function(self, pending) return self:call(pending.op, pending.params) end
    c.cancel = function() end
    return c
end

return M
