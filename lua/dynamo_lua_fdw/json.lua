-- Lossless JSON: numbers never pass through a Lua number, empty arrays stay
-- arrays.  lua-cjson 2.1.0 can do neither (14-digit numbers, [] -> {}), and
-- DynamoDB numbers carry up to 38 digits.
--
--   json.decode(text)  objects -> plain tables, arrays -> tables with
--                      json.array_mt, numbers -> json.number(text) boxes,
--                      null -> json.null (also inside arrays, never nil)
--   json.encode(v)     compact text; object keys sorted (byte order)
local cjson = require "cjson"
local errors = require "dynamo_lua_fdw.errors"
local bit = require "bit"

local byte, char, sub, find, gsub, format =
    string.byte, string.char, string.sub, string.find, string.gsub, string.format
local concat, sort = table.concat, table.sort
local type, pairs, tonumber, getmetatable, setmetatable =
    type, pairs, tonumber, getmetatable, setmetatable
local floor, huge = math.floor, math.huge
local band, bor, rshift = bit.band, bit.bor, bit.rshift

local M = {}

-- The same lightuserdata as cjson's, so values decoded by either compare equal.
M.null = cjson.null
local null = M.null

-- Marks a table as a JSON array; its elements are t[1..#t].
local array_mt = { __name = "json.array" }
M.array_mt = array_mt

-- A number kept as its exact text: { text }.
local number_mt = { __name = "json.number" }
number_mt.__tostring = function(self) return self[1] end
M.number_mt = number_mt

-- Deeper input is refused rather than risking the Lua/C stack.
local MAX_DEPTH = 512
M.MAX_DEPTH = MAX_DEPTH

function M.array(t)
    return setmetatable(t or {}, array_mt)
end

function M.number(text)
    return setmetatable({ text }, number_mt)
end

function M.is_number(v)
    return type(v) == "table" and getmetatable(v) == number_mt
end

function M.is_array(v)
    return type(v) == "table" and getmetatable(v) == array_mt
end

---------------------------------------------------------------------------
-- decoding
---------------------------------------------------------------------------

-- PostgreSQL counts characters, not bytes: skip UTF-8 continuation bytes.
local function char_position(s, pos)
    local _, cont = gsub(sub(s, 1, pos - 1), "[\128-\191]", "")
    return pos - cont
end

local function fail(s, pos, reason)
    errors.raise {
        sqlstate = "22P02",
        message = "invalid input syntax for type json",
        detail = reason .. " at character " .. char_position(s, pos) .. ".",
    }
end

-- RFC 8259 section 8.1: the text must be UTF-8.  Only called when s has a
-- byte >= 0x80, so ASCII input costs one find().
local function check_utf8(s, i)
    local len = #s
    while i do
        local c = byte(s, i)
        local need, lo, hi = 0, 0x80, 0xBF
        if c >= 0xC2 and c <= 0xDF then need = 1
        elseif c == 0xE0 then need, lo = 2, 0xA0
        elseif c == 0xED then need, hi = 2, 0x9F -- no UTF-16 surrogates
        elseif c >= 0xE1 and c <= 0xEF then need = 2
        elseif c == 0xF0 then need, lo = 3, 0x90
        elseif c >= 0xF1 and c <= 0xF3 then need = 3
        elseif c == 0xF4 then need, hi = 3, 0x8F
        else fail(s, i, "Invalid UTF-8 byte sequence")
        end
        if i + need > len then fail(s, i, "Invalid UTF-8 byte sequence") end
        local c1 = byte(s, i + 1)
        if c1 < lo or c1 > hi then fail(s, i, "Invalid UTF-8 byte sequence") end
        for k = i + 2, i + need do
            local ck = byte(s, k)
            if ck < 0x80 or ck > 0xBF then fail(s, i, "Invalid UTF-8 byte sequence") end
        end
        i = find(s, "[\128-\255]", i + need + 1)
    end
end

local function skip_ws(s, pos)
    local c = byte(s, pos)
    if c == 32 or c == 10 or c == 13 or c == 9 then
        local _, e = find(s, "^[ \t\n\r]+", pos)
        return e + 1
    end
    return pos
end

-- Scans an RFC 8259 number starting at pos.  Returns the index of its last
-- byte, or nil, the failing position and a reason.  Byte loops, not
-- patterns: they stay inside JIT traces.
local function scan_number(s, pos)
    local i = pos
    local c = byte(s, i)
    if c == 45 then i = i + 1; c = byte(s, i) end -- '-'
    if c == 48 then -- '0' stands alone
        i = i + 1
        c = byte(s, i)
        if c and c >= 48 and c <= 57 then
            return nil, i - 1, "Leading zeros are not allowed in a number"
        end
    elseif c and c >= 49 and c <= 57 then
        repeat i = i + 1; c = byte(s, i) until not c or c < 48 or c > 57
    else
        return nil, i, "Expected a digit"
    end
    if c == 46 then -- '.'
        i = i + 1
        c = byte(s, i)
        if not c or c < 48 or c > 57 then
            return nil, i, "Expected a digit after the decimal point"
        end
        repeat i = i + 1; c = byte(s, i) until not c or c < 48 or c > 57
    end
    if c == 101 or c == 69 then -- 'e' 'E'
        i = i + 1
        c = byte(s, i)
        if c == 43 or c == 45 then i = i + 1; c = byte(s, i) end
        if not c or c < 48 or c > 57 then
            return nil, i, "Expected a digit in the exponent"
        end
        repeat i = i + 1; c = byte(s, i) until not c or c < 48 or c > 57
    end
    return i - 1
end

-- Exported so types.lua can check number text with the same grammar.
function M.is_number_text(s)
    return type(s) == "string" and scan_number(s, 1) == #s
end

local function utf8_char(cp)
    if cp < 0x80 then return char(cp) end
    if cp < 0x800 then
        return char(bor(0xC0, rshift(cp, 6)), bor(0x80, band(cp, 0x3F)))
    end
    if cp < 0x10000 then
        return char(bor(0xE0, rshift(cp, 12)), bor(0x80, band(rshift(cp, 6), 0x3F)),
            bor(0x80, band(cp, 0x3F)))
    end
    return char(bor(0xF0, rshift(cp, 18)), bor(0x80, band(rshift(cp, 12), 0x3F)),
        bor(0x80, band(rshift(cp, 6), 0x3F)), bor(0x80, band(cp, 0x3F)))
end

local UNESCAPE = {
    [34] = '"', [92] = "\\", [47] = "/", [98] = "\b",
    [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t",
}

local function hex4(s, i)
    local h = sub(s, i, i + 3)
    if #h == 4 and find(h, "^%x%x%x%x$") then return tonumber(h, 16) end
    return nil
end

-- s[pos] is the opening quote.  Returns the string and the index after it.
local function parse_string(s, pos)
    local i = pos + 1
    local buf, n = nil, 0
    while true do
        local j = find(s, '[%z\1-\31"\\]', i)
        if not j then fail(s, pos, "Unterminated string") end
        local c = byte(s, j)
        if c == 34 then
            if not buf then return sub(s, i, j - 1), j + 1 end
            n = n + 1
            buf[n] = sub(s, i, j - 1)
            return concat(buf, "", 1, n), j + 1
        elseif c == 92 then
            buf = buf or {}
            n = n + 1
            buf[n] = sub(s, i, j - 1)
            local e = byte(s, j + 1)
            local simple = UNESCAPE[e]
            if simple then
                n = n + 1
                buf[n] = simple
                i = j + 2
            elseif e == 117 then -- 'u'
                local cp = hex4(s, j + 2)
                if not cp then fail(s, j, "Invalid \\u escape, expected four hex digits") end
                i = j + 6
                if cp >= 0xD800 and cp <= 0xDBFF then
                    local lo = byte(s, i) == 92 and byte(s, i + 1) == 117 and hex4(s, i + 2)
                    if not lo or lo < 0xDC00 or lo > 0xDFFF then
                        fail(s, j, "Unpaired high surrogate " .. sub(s, j, j + 5))
                    end
                    cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
                    i = i + 6
                elseif cp >= 0xDC00 and cp <= 0xDFFF then
                    fail(s, j, "Unpaired low surrogate " .. sub(s, j, j + 5))
                end
                n = n + 1
                buf[n] = utf8_char(cp)
            elseif e == nil then
                fail(s, pos, "Unterminated string")
            else
                fail(s, j, "Invalid escape \"\\" .. char(e) .. "\"")
            end
        else
            fail(s, j, format("Unescaped control character 0x%02X in a string", c))
        end
    end
end

local parse_value -- defined below; containers recurse into it

local function parse_array(s, pos, depth)
    if depth > MAX_DEPTH then
        fail(s, pos, "Nesting is deeper than " .. MAX_DEPTH .. " levels")
    end
    local arr, n = setmetatable({}, array_mt), 0
    pos = skip_ws(s, pos + 1)
    if byte(s, pos) == 93 then return arr, pos + 1 end
    while true do
        local v
        v, pos = parse_value(s, pos, depth)
        n = n + 1
        arr[n] = v
        pos = skip_ws(s, pos)
        local c = byte(s, pos)
        if c == 93 then return arr, pos + 1 end
        if c ~= 44 then fail(s, pos, "Expected \",\" or \"]\"") end
        pos = skip_ws(s, pos + 1)
    end
end

local function parse_object(s, pos, depth)
    if depth > MAX_DEPTH then
        fail(s, pos, "Nesting is deeper than " .. MAX_DEPTH .. " levels")
    end
    local obj = {}
    pos = skip_ws(s, pos + 1)
    if byte(s, pos) == 125 then return obj, pos + 1 end
    while true do
        if byte(s, pos) ~= 34 then fail(s, pos, "Expected a string as object key") end
        local k, v
        k, pos = parse_string(s, pos)
        pos = skip_ws(s, pos)
        if byte(s, pos) ~= 58 then fail(s, pos, "Expected \":\"") end
        v, pos = parse_value(s, skip_ws(s, pos + 1), depth)
        obj[k] = v -- a duplicate key: the last one wins
        pos = skip_ws(s, pos)
        local c = byte(s, pos)
        if c == 125 then return obj, pos + 1 end
        if c ~= 44 then fail(s, pos, "Expected \",\" or \"}\"") end
        pos = skip_ws(s, pos + 1)
    end
end

-- pos is at the first byte of the value (white space already skipped).
parse_value = function(s, pos, depth)
    local c = byte(s, pos)
    if c == 34 then return parse_string(s, pos) end
    if c == 123 then return parse_object(s, pos, depth + 1) end
    if c == 91 then return parse_array(s, pos, depth + 1) end
    if c == 45 or (c and c >= 48 and c <= 57) then
        local e, epos, reason = scan_number(s, pos)
        if not e then fail(s, epos, reason) end
        return setmetatable({ sub(s, pos, e) }, number_mt), e + 1
    end
    if c == 116 and sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
    if c == 102 and sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
    if c == 110 and sub(s, pos, pos + 3) == "null" then return null, pos + 4 end
    if c == nil then fail(s, pos, "Unexpected end of input") end
    fail(s, pos, "Expected a JSON value")
end

function M.decode(text)
    if type(text) ~= "string" then
        errors.raise {
            sqlstate = "22P02",
            message = "invalid input syntax for type json",
            detail = "Expected a string, got a " .. type(text) .. ".",
        }
    end
    local hi = find(text, "[\128-\255]")
    if hi then check_utf8(text, hi) end
    local v, pos = parse_value(text, skip_ws(text, 1), 0)
    pos = skip_ws(text, pos)
    if pos <= #text then fail(text, pos, "Unexpected characters after the JSON value") end
    return v
end

---------------------------------------------------------------------------
-- encoding
---------------------------------------------------------------------------

local ESCAPE = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for c = 0, 31 do
    local ch = char(c)
    if not ESCAPE[ch] then ESCAPE[ch] = format("\\u%04x", c) end
end
local NEEDS_ESCAPE = '[%z\1-\31"\\]'

-- A byte loop beats string.find with a character class here: it is
-- compiled into the trace instead of calling the pattern matcher.
local function needs_escape(s)
    for i = 1, #s do
        local c = byte(s, i)
        if c < 32 or c == 34 or c == 92 then return true end
    end
    return false
end

-- Appends the quoted JSON form of string s to buf[n+1..]; returns the new n.
-- Pushing the pieces separately avoids creating an interned copy of s.
local function put_string(buf, n, s)
    buf[n + 1] = '"'
    if needs_escape(s) then
        buf[n + 2] = (gsub(s, NEEDS_ESCAPE, ESCAPE))
    else
        buf[n + 2] = s
    end
    buf[n + 3] = '"'
    return n + 3
end
M.put_string = put_string

function M.quote(s)
    if needs_escape(s) then return '"' .. gsub(s, NEEDS_ESCAPE, ESCAPE) .. '"' end
    return '"' .. s .. '"'
end

local function encode_fail(message, detail)
    errors.raise { sqlstate = "22023", message = message, detail = detail }
end

local function number_text(x)
    if x ~= x or x == huge or x == -huge then
        encode_fail("cannot encode a NaN or infinite number as JSON")
    end
    if x == floor(x) and x < 9007199254740992 and x > -9007199254740992 then
        return format("%d", x)
    end
    return format("%.17g", x)
end


local put_value

-- Appends the object t with the nk string keys given, sorted (the default "<" is byte order in
-- LuaJIT, no strcoll, so equal tables give equal text); put(value, buf, n, depth) appends a value.
local function put_object(t, keys, nk, buf, n, depth, put)
    if nk == 0 then n = n + 1; buf[n] = "{}"; return n end
    if nk > 1 then sort(keys) end
    n = n + 1
    buf[n] = "{"
    for i = 1, nk do
        local k = keys[i]
        if i > 1 then n = n + 1; buf[n] = "," end
        n = put_string(buf, n, k)
        n = n + 1
        buf[n] = ":"
        n = put(t[k], buf, n, depth)
    end
    n = n + 1
    buf[n] = "}"
    return n
end
M.put_object = put_object

local function put_array(t, buf, n, depth, len)
    n = n + 1
    buf[n] = "["
    for i = 1, len do
        if i > 1 then n = n + 1; buf[n] = "," end
        n = put_value(t[i], buf, n, depth)
    end
    n = n + 1
    buf[n] = "]"
    return n
end

put_value = function(v, buf, n, depth)
    local tv = type(v)
    if tv == "string" then return put_string(buf, n, v) end
    if tv == "table" then
        local mt = getmetatable(v)
        if mt == number_mt then n = n + 1; buf[n] = v[1]; return n end
        depth = depth + 1
        if depth > MAX_DEPTH then
            encode_fail("cannot encode a value nested deeper than " .. MAX_DEPTH .. " levels as JSON",
                "The value may contain a reference cycle.")
        end
        if mt == array_mt then return put_array(v, buf, n, depth, #v) end
        local keys, nk, strings = {}, 0, true
        for k in pairs(v) do
            nk = nk + 1
            keys[nk] = k
            if type(k) ~= "string" then strings = false end
        end
        if nk == 0 then n = n + 1; buf[n] = "{}"; return n end
        -- keys exactly 1..n: #v is a border, and nk == #v leaves no room for others
        if not strings and nk == #v then return put_array(v, buf, n, depth, nk) end
        if not strings then
            encode_fail("cannot encode a table with mixed or non-string keys as JSON")
        end
        return put_object(v, keys, nk, buf, n, depth, put_value)
    end
    if tv == "number" then n = n + 1; buf[n] = number_text(v); return n end
    if tv == "boolean" then n = n + 1; buf[n] = v and "true" or "false"; return n end
    if v == null then n = n + 1; buf[n] = "null"; return n end
    encode_fail("cannot encode a Lua " .. tv .. " as JSON")
end
M.put_value = put_value

function M.encode(v)
    local buf = {}
    local n = put_value(v, buf, 0, 0)
    return concat(buf, "", 1, n)
end

return M
