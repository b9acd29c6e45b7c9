-- The generic table's `oid`: one text value naming an item, which must
-- round-trip unambiguously whatever the key contains.  It is the compact JSON
-- array ["<region>","<table>","<pkey name>",{"S":"x"}[,"<skey name>",{"N":"1"}]]
-- exactly as json.encode writes it; parse accepts only that canonical text.
local json = require "dynamo_lua_fdw.json"
local errors = require "dynamo_lua_fdw.errors"
local types = require "dynamo_lua_fdw.types"
local capi = require "dynamo_lua_fdw.capi"

local concat = table.concat
local type, next, pcall, getmetatable, tostring = type, next, pcall, getmetatable, tostring
local put_string = json.put_string
local array_mt = json.array_mt

local M = {}

local HINT = "Use an oid exactly as a query on the foreign table returned it."

local function invalid(detail)
    errors.raise {
        sqlstate = "22P02",
        message = "invalid oid for a DynamoDB item",
        detail = detail,
        hint = HINT,
    }
end

-- The key's type tag and value text; keys are S, N or B with a string value.
local function key_parts(av)
    if type(av) ~= "table" or getmetatable(av) ~= nil then return nil end
    local tag, v = next(av)
    if next(av, tag) ~= nil or type(v) ~= "string" then return nil end
    if tag == "S" or tag == "N" or tag == "B" then return tag, v end
    return nil
end

-- Builds the text directly (same bytes as json.encode of the array) since
-- it runs for every row a scan returns.
function M.compose(region, table_name, keys)
    local buf, n = { "[" }, 1
    n = put_string(buf, n, region)
    n = n + 1
    buf[n] = ","
    n = put_string(buf, n, table_name)
    local nkeys = #keys
    if nkeys < 1 or nkeys > 2 then
        errors.raise {
            sqlstate = "XX000",
            message = "a DynamoDB item key has one or two attributes",
            detail = "The key given has " .. nkeys .. " attributes.",
        }
    end
    for i = 1, nkeys do
        local key = keys[i]
        local tag, v = key_parts(key.value)
        if not tag then
            errors.raise {
                sqlstate = "HV004",
                message = "unsupported DynamoDB key attribute type",
                detail = 'Key attribute "' .. tostring(key.name) .. '" is not a single S, N or B value.',
            }
        end
        n = n + 1
        buf[n] = ","
        n = put_string(buf, n, key.name)
        n = n + 1
        buf[n] = ',{"' .. tag .. '":'
        n = put_string(buf, n, v)
        n = n + 1
        buf[n] = "}"
    end
    n = n + 1
    buf[n] = "]"
    return concat(buf, "", 1, n)
end

-- region, table_name, keys from an oid; rejects anything compose would not write.
function M.parse(text)
    if type(text) ~= "string" then invalid("The oid must be text.") end
    local ok, a = pcall(json.decode, text)
    if not ok then
        invalid("The oid is not valid JSON" .. (type(a) == "table" and a.detail
            and ": " .. a.detail or "."))
    end
    if type(a) ~= "table" or getmetatable(a) ~= array_mt or (#a ~= 4 and #a ~= 6) then
        invalid("The oid must be a JSON array of the region, the table name, and one or two key names each followed by its value.")
    end
    local region, table_name = a[1], a[2]
    if type(region) ~= "string" or type(table_name) ~= "string" then
        invalid("The region and table name in the oid must be strings.")
    end
    local keys = {}
    for i = 3, #a, 2 do
        local name, av = a[i], a[i + 1]
        if type(name) ~= "string" then invalid("A key name in the oid is not a string.") end
        local tag, v = key_parts(av)
        if not tag then
            invalid('The value of key "' .. name .. '" must be an object with one S, N or B string.')
        end
        if tag == "N" and not types.check_number(v) then
            invalid('The value of key "' .. name .. '" is not a valid DynamoDB number.')
        end
        if tag == "B" and not capi.base64_decode(v) then
            invalid('The value of key "' .. name .. '" is not valid base64.')
        end
        keys[#keys + 1] = { name = name, value = { [tag] = v } }
    end
    if M.compose(region, table_name, keys) ~= text then
        invalid("The oid is not in canonical form.")
    end
    return region, table_name, keys
end

return M
