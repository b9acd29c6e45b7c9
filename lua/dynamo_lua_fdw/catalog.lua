-- Key schemas from DescribeTable, cached per backend for 60 seconds so that
-- a query does not pay a DescribeTable round trip each time.
local capi = require "dynamo_lua_fdw.capi"

local errors = require "dynamo_lua_fdw.errors"

local M = {}

local KEY_TYPES = { S = true, N = true, B = true }

M.TTL = 60

-- describe(client, table_name) -> {partition_key = {name=, type=}, sort_key = {name=, type=} | nil,
--                                  item_count =, size_bytes =, indexes = {index_schema...}}
-- One secondary index: {name=, global=, partition_key=, sort_key=, projection = "ALL" | "KEYS_ONLY"
-- | "INCLUDE", non_key = {attribute...}}, or nil when DescribeTable's entry is not one.
function M.index_schema(ix, types, global)
    if type(ix) ~= "table" or type(ix.IndexName) ~= "string" or type(ix.KeySchema) ~= "table" then return nil end
    local index = { name = ix.IndexName, global = global, non_key = {} }
    for _, k in ipairs(ix.KeySchema) do
        local key = type(k) == "table" and { name = k.AttributeName, type = types[k.AttributeName] }
        if not (key and type(key.name) == "string" and KEY_TYPES[key.type]) then return nil end
        if k.KeyType == "HASH" then index.partition_key = key else index.sort_key = key end
    end
    local p = type(ix.Projection) == "table" and ix.Projection or {}
    index.projection = p.ProjectionType or "ALL"
    for _, a in ipairs(type(p.NonKeyAttributes) == "table" and p.NonKeyAttributes or {}) do
        if type(a) == "string" then index.non_key[#index.non_key + 1] = a end
    end
    return index.partition_key and index or nil
end

function M.describe(client, table_name)
    local P = capi.persistent()
    P.catalog = P.catalog or {}
    local id = client.endpoint .. "\0" .. client.region .. "\0" .. table_name
    local hit = P.catalog[id]
    local now = capi.now()
    if hit and now - hit.at < M.TTL then return hit.value end

    local t = client:call("DescribeTable", { TableName = table_name }).Table
    if type(t) ~= "table" or type(t.KeySchema) ~= "table" or type(t.AttributeDefinitions) ~= "table" then
        errors.malformed("DescribeTable", "has no Table with KeySchema and AttributeDefinitions")
    end
    local types = {}
    for _, a in ipairs(t.AttributeDefinitions) do
        if type(a) == "table" and type(a.AttributeName) == "string" then types[a.AttributeName] = a.AttributeType end
    end
    local value = { item_count = tonumber(t.ItemCount), size_bytes = tonumber(t.TableSizeBytes) }
    for _, k in ipairs(t.KeySchema) do
        local key = type(k) == "table" and { name = k.AttributeName, type = types[k.AttributeName] }
        if not (key and type(key.name) == "string" and KEY_TYPES[key.type]) then
            errors.malformed("DescribeTable", "has a key without a name and an S, N or B type")
        end
        if k.KeyType == "HASH" then value.partition_key = key else value.sort_key = key end
    end
    if not value.partition_key then errors.malformed("DescribeTable", "has no partition (HASH) key") end
    value.indexes = {}
    for _, list in ipairs({ { t.LocalSecondaryIndexes, false }, { t.GlobalSecondaryIndexes, true } }) do
        for _, ix in ipairs(type(list[1]) == "table" and list[1] or {}) do
            local index = M.index_schema(ix, types, list[2])
            -- an index still being built (GSI backfill) would miss items: not used
            if index and (ix.IndexStatus == nil or ix.IndexStatus == "ACTIVE") then
                value.indexes[#value.indexes + 1] = index
            end
        end
    end
    -- only a schema that passed the checks is cached
    P.catalog[id] = { at = now, value = value }
    return value
end

return M
