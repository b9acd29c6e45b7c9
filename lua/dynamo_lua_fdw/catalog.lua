-- Key schemas from DescribeTable, cached per backend for 60 seconds so that
-- a query does not pay a DescribeTable round trip each time.
local capi = require "dynamo_lua_fdw.capi"

local M = {}

M.TTL = 60

-- describe(client, table_name) -> {partition_key = {name=, type=}, sort_key = {name=, type=} | nil,
--                                  item_count =, size_bytes =}
function M.describe(client, table_name)
    local P = capi.persistent()
    P.catalog = P.catalog or {}
    local id = client.endpoint .. "\0" .. client.region .. "\0" .. table_name
    local hit = P.catalog[id]
    local now = capi.now()
    if hit and now - hit.at < M.TTL then return hit.value end

    local t = client:call("DescribeTable", { TableName = table_name }).Table
    local types = {}
    for _, a in ipairs(t.AttributeDefinitions or {}) do types[a.AttributeName] = a.AttributeType end
    local value = { item_count = t.ItemCount, size_bytes = t.TableSizeBytes }
    for _, k in ipairs(t.KeySchema or {}) do
        local key = { name = k.AttributeName, type = types[k.AttributeName] }
        if k.KeyType == "HASH" then value.partition_key = key else value.sort_key = key end
    end
    P.catalog[id] = { at = now, value = value }
    return value
end

return M
