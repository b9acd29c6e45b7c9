-- Example mapping: DynamoDB Time to Live.
--
-- DynamoDB deletes an item some time after the epoch-seconds number in the
-- table's TTL attribute has passed -- typically within days, not at once --
-- and until then queries still return it.  This script is the typed mapping
-- plus one rule: an item whose TTL attribute is a number of seconds in the
-- past is not a row.  The TTL attribute is the one DescribeTimeToLive names
-- (asked once a minute per backend and table; with TTL off nothing is hidden).
--
--     CREATE FOREIGN TABLE sessions (
--         id text NOT NULL, username text,
--         expires_at timestamptz OPTIONS (attribute 'expires', format 'epoch')
--     ) SERVER dynamodb_server OPTIONS (mapping 'ttl', table 'Sessions');
--
-- The table does not need a column for the TTL attribute: the script reads it
-- through a hidden extra column it adds to the relation the typed mapping sees.  A column like
-- expires_at above shows it as timestamptz and writes it back as epoch
-- seconds (the typed mapping's format 'epoch').  Everything else --
-- planning, key conditions, writes -- is the typed mapping's.
local capi = require "dynamo_lua_fdw.capi"
local client_mod = require "dynamo_lua_fdw.aws.client"
local typed = require "dynamo_lua_fdw.mappings.typed"

-- Whatever this module does not define, the typed mapping does.
local M = setmetatable({}, { __index = typed })

local CACHE_SECONDS = 60

-- The TTL attribute of the table, or nil when Time to Live is off.  The answer is
-- kept in capi.persistent(), which outlives a reload of the scripts.
local function ttl_attribute(rel)
    local tbl = rel.table.table
    local client = client_mod.new{ server_options = rel.server.options, user_options = rel.user }
    local P = capi.persistent()
    P.example_ttl = P.example_ttl or {}
    local id = client.endpoint .. "\0" .. client.region .. "\0" .. tbl
    local now = capi.now()
    local hit = P.example_ttl[id]
    if not hit or now - hit.at >= CACHE_SECONDS then
        local d = client:call("DescribeTimeToLive", { TableName = tbl }).TimeToLiveDescription or {}
        local on = d.TimeToLiveStatus == "ENABLED" or d.TimeToLiveStatus == "ENABLING"
        hit = { at = now, attribute = on and d.AttributeName or false }
        P.example_ttl[id] = hit
    end
    return hit.attribute or nil
end

-- The same relation with one more column after the last: the TTL attribute as JSON text (a
-- number reads as its digits, any other type as something tonumber() refuses).  The column
-- is also "needed", so that a typed scan that asks DynamoDB only for the attributes the
-- query reads (a ProjectionExpression) asks for this one too.
local function widened(rel, attribute)
    local natts = #rel.columns
    local wide = {}
    for k, v in pairs(rel) do wide[k] = v end
    wide.columns = {}
    for i, col in ipairs(rel.columns) do wide.columns[i] = col end
    wide.columns[natts + 1] = { attnum = natts + 1, name = "?ttl", type = "jsonb", notnull = false,
                                options = { attribute = attribute } }
    if rel.needed then
        wide.needed = {}
        for i, attnum in ipairs(rel.needed) do wide.needed[i] = attnum end
        wide.needed[#wide.needed + 1] = natts + 1
    end
    return wide
end

function M.plan_scan(rel)
    local attribute = ttl_attribute(rel)
    local p = typed.plan_scan(attribute and widened(rel, attribute) or rel)
    p.plan.ttl_attribute = attribute -- the plan travels as JSON: strings, numbers, tables
    -- DynamoDB cannot count what this script hides: count(*) reads the items
    if attribute then p.plan.select_count = nil end
    return p
end

function M.begin_scan(plan, rel, params, ...)
    if not plan.ttl_attribute then return typed.begin_scan(plan, rel, params, ...) end
    local st = typed.begin_scan(plan, widened(rel, plan.ttl_attribute), params, ...)
    st.example_ttl = { natts = #rel.columns, now = capi.now(), hidden = 0 }
    return st
end

function M.rescan(st, params)
    typed.rescan(st, params)
    if st.example_ttl then st.example_ttl.now = capi.now() end
end

-- typed.fetch returns rows of natts + 1 values; keep the live ones, without the extra value.
function M.fetch(st)
    local t = st.example_ttl
    if not t then return typed.fetch(st) end
    local natts, wide = t.natts, t.natts + 1
    while true do
        local values, n, where = typed.fetch(st)
        if not values or n == 0 then return nil, 0 end
        local out, out_where, kept = {}, {}, 0
        for r = 1, n do
            local base = (r - 1) * wide
            local expires = tonumber(values[base + wide] or "")
            if expires and expires < t.now then
                t.hidden = t.hidden + 1 -- expired, not yet deleted by DynamoDB
            else
                kept = kept + 1
                local to = (kept - 1) * natts
                for a = 1, natts do out[to + a] = values[base + a] end
                out_where[kept] = where and where[r]
            end
        end
        if kept > 0 then return out, kept, out_where end
        -- every row of this page had expired: read on (0 rows would end the scan)
    end
end

function M.explain(plan, verbose, st, ...)
    local out = typed.explain(plan, verbose, st, ...)
    out[#out + 1] = "DynamoDB TTL Attribute"
    out[#out + 1] = plan.ttl_attribute or "none (Time to Live is off)"
    if st and st.example_ttl then
        out[#out + 1] = "Expired Items Hidden"
        out[#out + 1] = tostring(st.example_ttl.hidden)
    end
    return out
end

return M
