-- DynamoDB AttributeValues <-> JSON text, and key values <-> text.
-- Items come from cjson-decoded wire JSON, where every N is still a string;
-- nothing here turns an N into a Lua number, so all 38 digits survive.
local json = require "dynamo_lua_fdw.json"
local errors = require "dynamo_lua_fdw.errors"
local capi = require "dynamo_lua_fdw.capi"

local find, match, sub = string.find, string.match, string.sub
local concat = table.concat
local type, pairs, next, tonumber, tostring, getmetatable, setmetatable =
    type, pairs, next, tonumber, tostring, getmetatable, setmetatable
local put_string, is_number_text, put_object = json.put_string, json.is_number_text, json.put_object
local array_mt, number_mt, null = json.array_mt, json.number_mt, json.null

local M = {}

-- DynamoDB allows 32 levels; this only guards against runaway recursion.
local MAX_DEPTH = json.MAX_DEPTH

function M.contains_nul(s)
    return find(s, "\0", 1, true) ~= nil
end

---------------------------------------------------------------------------
-- numbers
---------------------------------------------------------------------------

-- Checks DynamoDB number text: optional sign, digits with an optional
-- fraction (".5" and "5." as BigDecimal allows), optional exponent; at most
-- 38 significant digits; magnitude 1E-130 .. 9.99..E+125 or zero.
-- Returns true, or nil and a detail sentence.
function M.check_number(text)
    if type(text) ~= "string" then return nil, "A number must be given as text." end
    local int, frac, exp = match(text, "^[+-]?(%d*)%.?(%d*)(.*)$")
    if not int or (int == "" and frac == "") or (exp ~= "" and not find(exp, "^[eE][+-]?%d+$")) then
        return nil, "A DynamoDB number is an optional sign, digits with an optional fraction, and an optional exponent."
    end
    local digits = int .. frac
    local lead = match(digits, "^0*()") -- index of the first significant digit
    if lead > #digits then return true end -- zero, whatever the exponent
    local last = find(digits, "0*$") - 1  -- trailing zeros are not significant
    if last - lead + 1 > 38 then
        return nil, "A DynamoDB number can have at most 38 significant digits."
    end
    -- exponent of the first significant digit in scientific notation
    local e = (exp ~= "" and tonumber(sub(exp, 2)) or 0) + #int - lead
    if e > 125 or e < -130 then
        return nil, "A DynamoDB number must lie between 1E-130 and 9.9999999999999999999999999999999999999E+125 in magnitude, or be zero."
    end
    return true
end
local check_number = M.check_number

local function bad_number(text, detail)
    errors.raise {
        sqlstate = "22P02",
        message = 'invalid input syntax for a DynamoDB number: "' .. tostring(text) .. '"',
        detail = detail,
    }
end

-- JSON number text for a wire N.  DynamoDB sends normalized text, which is
-- already valid JSON; anything else ("+5", ".5", "5.", "007") is fixed up
-- without dropping significant digits.
local function json_number(t)
    if is_number_text(t) then return t end
    if type(t) ~= "string" then bad_number(t, "A number must be given as text.") end
    local sign, int, dot, frac, exp = match(t, "^([+-]?)(%d*)(%.?)(%d*)(.*)$")
    if not sign or (int == "" and frac == "") or (exp ~= "" and not find(exp, "^[eE][+-]?%d+$")) then
        bad_number(t, "The value is not a number.")
    end
    if sign == "+" then sign = "" end
    int = match(int, "^0*(%d*)$")
    if int == "" then int = "0" end
    if frac ~= "" then frac = "." .. frac end
    return sign .. int .. frac .. exp
end
M.json_number = json_number

---------------------------------------------------------------------------
-- item -> JSON text
---------------------------------------------------------------------------

local function unsupported(av)
    local tag = type(av) == "table" and next(av) or type(av)
    errors.raise {
        sqlstate = "HV004",
        message = "unsupported DynamoDB attribute value",
        detail = "The attribute value has type \"" .. tostring(tag) .. "\".",
    }
end

local put_av, put_map

local function too_deep()
    errors.raise {
        sqlstate = "HV004",
        message = "DynamoDB item is nested too deeply",
        detail = "Lists and maps are nested more than " .. MAX_DEPTH .. " levels deep.",
    }
end

local function put_list(list, buf, n, depth, put_elem)
    n = n + 1
    buf[n] = "["
    for i = 1, #list do
        if i > 1 then n = n + 1; buf[n] = "," end
        n = put_elem(list[i], buf, n, depth)
    end
    n = n + 1
    buf[n] = "]"
    return n
end

local function put_number_elem(t, buf, n)
    n = n + 1
    buf[n] = json_number(t)
    return n
end

local function put_string_elem(s, buf, n)
    return put_string(buf, n, s)
end

put_av = function(av, buf, n, depth)
    if type(av) ~= "table" then unsupported(av) end
    local v = av.S
    if v ~= nil then return put_string(buf, n, v) end
    v = av.N
    if v ~= nil then n = n + 1; buf[n] = json_number(v); return n end
    v = av.M
    if v ~= nil then return put_map(v, buf, n, depth + 1) end
    v = av.L
    if v ~= nil then
        if depth >= MAX_DEPTH then too_deep() end
        return put_list(v, buf, n, depth + 1, put_av)
    end
    v = av.BOOL
    if v ~= nil then n = n + 1; buf[n] = v and "true" or "false"; return n end
    if av.NULL ~= nil then n = n + 1; buf[n] = "null"; return n end
    v = av.B
    if v ~= nil then return put_string(buf, n, v) end
    v = av.SS
    if v ~= nil then return put_list(v, buf, n, depth, put_string_elem) end
    v = av.NS
    if v ~= nil then return put_list(v, buf, n, depth, put_number_elem) end
    v = av.BS
    if v ~= nil then return put_list(v, buf, n, depth, put_string_elem) end
    unsupported(av)
end


put_map = function(m, buf, n, depth)
    if depth > MAX_DEPTH then too_deep() end
    local keys, nk = {}, 0
    for k in pairs(m) do
        nk = nk + 1
        keys[nk] = k
    end
    return put_object(m, keys, nk, buf, n, depth, put_av)
end

-- The AttributeValues whose JSON text, read as text (doc->>'k'), can be `text`: a string, a
-- number (DynamoDB compares numbers by value, so '1.5' also finds 1.50: a superset), a boolean,
-- binary (JSON holds its base64).  Maps, lists and sets read as '{...}'/'[...]': for such text,
-- nil (no FilterExpression can find them).
function M.text_candidates(text)
    if find(text, "^%s*[%[{]") then return nil end
    local out = {}
    if text ~= "" then out[#out + 1] = { S = text } end
    if check_number(text) then out[#out + 1] = { N = text } end
    if text == "true" or text == "false" then out[#out + 1] = { BOOL = text == "true" } end
    if text ~= "" and #text % 4 == 0 and find(text, "^[A-Za-z0-9+/]+=?=?$") then out[#out + 1] = { B = text } end
    return out
end

-- The whole item as JSON text, object keys sorted so equal items give equal text.
function M.item_to_json(item)
    local buf = {}
    local n = put_map(item, buf, 0, 1)
    return concat(buf, "", 1, n)
end

---------------------------------------------------------------------------
-- JSON text -> item
---------------------------------------------------------------------------

local to_av

local function to_map(obj)
    local m = {}
    for k, v in pairs(obj) do m[k] = to_av(v) end
    return m
end

to_av = function(v)
    local tv = type(v)
    if tv == "string" then return { S = v } end
    if tv == "boolean" then return { BOOL = v } end
    if v == null then return { NULL = true } end
    local mt = getmetatable(v)
    if mt == number_mt then
        local text = v[1]
        local ok, detail = check_number(text)
        if not ok then bad_number(text, detail) end
        return { N = text }
    end
    if mt == array_mt then
        -- marked so json.encode keeps an empty list as {"L":[]}
        local l = setmetatable({}, array_mt)
        for i = 1, #v do l[i] = to_av(v[i]) end
        return { L = l }
    end
    return { M = to_map(v) }
end

local function not_object(what)
    errors.raise {
        sqlstate = "22023",
        message = "DynamoDB item document must be a JSON object",
        detail = "The document is " .. what .. ".",
        hint = 'Give a JSON object whose keys are attribute names, such as {"id": "a", "count": 1}.',
    }
end

-- An item (attribute name -> AttributeValue) from a JSON document; numbers
-- keep their exact text.  json.encode of the result is DynamoDB JSON.
function M.json_to_item(text)
    local doc = json.decode(text)
    local tv = type(doc)
    if tv ~= "table" then
        not_object(doc == null and "null" or "a " .. tv)
    end
    local mt = getmetatable(doc)
    if mt == array_mt then not_object("an array") end
    if mt == number_mt then not_object("a number") end
    return to_map(doc)
end

---------------------------------------------------------------------------
-- key values
---------------------------------------------------------------------------

-- Text for the partition_key / sort_key columns.
function M.key_text(av)
    if type(av) == "table" then
        local v = av.S
        if v ~= nil then
            if find(v, "\0", 1, true) then
                errors.raise {
                    sqlstate = "22021",
                    message = "DynamoDB string value contains a NUL character",
                    detail = "A key value contains the character U+0000.",
                    hint = "PostgreSQL text values cannot store NUL characters.",
                }
            end
            return v
        end
        v = av.N
        if v ~= nil then return v end
        v = av.B
        if v ~= nil then return v end
    end
    local tag = type(av) == "table" and next(av) or type(av)
    errors.raise {
        sqlstate = "HV004",
        message = "unsupported DynamoDB key attribute type",
        detail = "The key attribute has type \"" .. tostring(tag) .. "\"; key attributes are S, N or B.",
    }
end

-- AttributeValue for a key from user text; keytype is 'S', 'N' or 'B'.
function M.key_value(text, keytype)
    if type(text) ~= "string" then
        errors.raise { sqlstate = "22023", message = "DynamoDB key value must be text" }
    end
    if keytype == "S" then
        if text == "" then
            errors.raise {
                sqlstate = "22023",
                message = "DynamoDB key value cannot be empty",
                detail = "Key attributes of type S must be at least one character long.",
            }
        end
        return { S = text }
    elseif keytype == "N" then
        local ok, detail = check_number(text)
        if not ok then bad_number(text, detail) end
        return { N = text }
    elseif keytype == "B" then
        local raw, err = capi.base64_decode(text)
        if not raw then
            errors.raise {
                sqlstate = "22P02",
                message = 'invalid base64 for a DynamoDB binary key: "' .. text .. '"',
                detail = "The value could not be decoded: " .. tostring(err) .. ".",
                hint = "Binary key values are written in standard base64 with padding.",
            }
        end
        if raw == "" then
            errors.raise {
                sqlstate = "22023",
                message = "DynamoDB key value cannot be empty",
                detail = "Key attributes of type B must be at least one byte long.",
            }
        end
        return { B = text }
    end
    errors.raise {
        sqlstate = "22023",
        message = 'invalid DynamoDB key type "' .. tostring(keytype) .. '"',
        detail = "Key attributes have type S, N or B.",
    }
end

return M
