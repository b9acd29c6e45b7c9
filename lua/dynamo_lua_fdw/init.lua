-- The entry points C calls (src/fdw.c, src/xact.c), and nothing else.
-- Each one finds the table's mapping script and hands it plain Lua values.
-- Scan and modify states live in capi.persistent() under integer handles,
-- so a script reload between two calls of one query loses nothing.
local capi = require "dynamo_lua_fdw.capi"
local cjson = require "cjson"
local json = require "dynamo_lua_fdw.json"
local writes = require "dynamo_lua_fdw.writes"
local kinesis_buffer = require "dynamo_lua_fdw.kinesis.buffer"
local errors = require "dynamo_lua_fdw.errors"
local client = require "dynamo_lua_fdw.aws.client"

local M = {}

local P = capi.persistent()
P.states = P.states or {}
P.next_handle = P.next_handle or 0

local function mapping(name)
    return errors.require_script("mapping", name, "Table option mapping")
end

local function mapping_of(rel)
    return rel.table.mapping or (rel.table.table and "typed" or "generic")
end

local function new_handle(state)
    P.next_handle = P.next_handle + 1
    P.states[P.next_handle] = state
    return P.next_handle
end

local function state_of(handle)
    local st = P.states[handle]
    if not st then error("dynamo_lua_fdw: unknown state handle " .. tostring(handle)) end
    return st
end

-- plan_scan(rel) -> rows, startup_cost, total_cost, plan_json, local_flags, {param indexes}, order column,
--                   param, parallel segments (0: no parallel Scan)
-- local_flags has one character per qual: '1' = PostgreSQL checks it, '0' = DynamoDB answers it exactly.
-- The order column (or nil) is one a Query returns its rows ordered by; param (or nil) names the
-- column whose equality to an outer value makes a Query, with that Query's rows and costs.
function M.plan_scan(rel)
    local name = mapping_of(rel)
    local p = mapping(name).plan_scan(rel)
    p.plan.mapping = name
    local flags = {}
    for i = 1, rel.nquals do flags[i] = p.exact and p.exact[i] and "0" or "1" end
    local param = p.param and { p.param.column, p.param.rows, p.param.startup_cost, p.param.total_cost }
    return p.rows, p.startup_cost, p.total_cost, json.encode(p.plan), table.concat(flags),
        json.array(p.params or {}), p.order_column, param, p.parallel_segments or 0
end

-- begin_scan(plan_json, rel, params, handle, direction, segment) -> handle; a non-zero handle is a
-- rescan.  direction: "asc"/"desc" when PostgreSQL relies on rows in sort key order, else "".
-- segment: "i/n" when this process reads segment i of n of a parallel Scan, else "".
function M.begin_scan(plan_json, rel, params, handle, direction, segment)
    local plan = cjson.decode(plan_json)
    local i, n = (segment or ""):match("^(%d+)/(%d+)$")
    local part = i and { segment = tonumber(i), segments = tonumber(n) } or nil
    if handle ~= 0 then -- a rescan, or the next segment of a parallel Scan
        local st = state_of(handle)
        st.mapping.rescan(st, params, part)
        return handle
    end
    local m = mapping(plan.mapping)
    local st = m.begin_scan(plan, rel, params, direction ~= "" and direction or nil, part)
    st.mapping = m
    return new_handle(st)
end

-- prime(handle) -> the id of the HTTP request the next fetch waits for (now sent), or 0.
function M.prime(handle)
    local st = state_of(handle)
    return st.mapping.prime and st.mapping.prime(st) or 0
end

-- fetch(handle) -> flat array of column values (strings or nil), row count; 0 rows = the end.
function M.fetch(handle)
    local st = state_of(handle)
    return st.mapping.fetch(st)
end

function M.end_scan(handle)
    local st = P.states[handle]
    P.states[handle] = nil
    if st then st.mapping.end_scan(st) end
end

-- explain(plan_json, verbose, handle or 0, direction) -> {label, value, ...}
function M.explain(plan_json, verbose, handle, direction)
    local plan = cjson.decode(plan_json)
    return mapping(plan.mapping).explain(plan, verbose, handle ~= 0 and P.states[handle] or nil,
        direction ~= "" and direction or nil)
end

-- begin_modify(rel, on_conflict, increments) -> handle; on_conflict is "nothing" for INSERT ... ON
-- CONFLICT DO NOTHING; increments {["attnum"] = "delta"} the columns an UPDATE sets to themselves
-- plus a constant (n = n + 1).
function M.begin_modify(rel, on_conflict, increments)
    rel.on_conflict = on_conflict ~= "" and on_conflict or nil
    rel.increments = increments
    local m = mapping(mapping_of(rel))
    local st = m.begin_modify(rel)
    st.mapping = m
    -- table option, else server option: batch (default), transaction or immediate
    st.write_mode = rel.table.write_mode or rel.server.options.write_mode or "batch"
    st.write_concurrency = rel.table.write_concurrency -- else writes.lua reads the server option
    return new_handle(st)
end

-- Runs a mapping's write and marks the writes it buffered with the table's write mode.
local function write(st, fn, ...)
    local before = writes.pending()
    local result = fn(st, ...)
    writes.set_mode(before, st.write_mode, st.write_concurrency)
    writes.bound()
    return result
end

-- explain_modify(rel, on_conflict, increments) -> {label, value, ...}: how an INSERT, UPDATE or
-- DELETE sends its writes (a mapping's own explain_modify(rel), else by write mode).
function M.explain_modify(rel, on_conflict, increments)
    local m = mapping(mapping_of(rel))
    if m.explain_modify then return m.explain_modify(rel) end
    local mode = rel.table.write_mode or rel.server.options.write_mode or "batch"
    local out = { "DynamoDB Writes",
        mode == "transaction" and "buffered, sent with TransactWriteItems at commit"
        or mode == "immediate" and "sent when the statement ends"
        or on_conflict == "nothing" and "buffered, sent at commit as PutItem only where the key is new"
        or "buffered, sent with BatchWriteItem at commit" }
    local sums = {}
    for _, col in ipairs(rel.columns) do
        local delta = col.name and increments[tostring(col.attnum)]
        if delta then
            sums[#sums + 1] = col.name .. (delta:sub(1, 1) == "-" and " - " .. delta:sub(2) or " + " .. delta)
        end
    end
    if #sums > 0 then
        out[#out + 1] = "DynamoDB Atomic Increments"
        out[#out + 1] = table.concat(sums, ", ")
    end
    return out
end

-- insert(handle, level, new) / update(handle, level, old, new) / delete(handle, level, old)
-- Rows are arrays of text by attribute number; insert and update return the row as stored.
function M.insert(handle, level, new)
    local st = state_of(handle)
    return write(st, st.mapping.insert, level, new)
end

-- insert_batch(handle, level, rows, n): n rows, natts values each, flat (multi-row INSERT).
function M.insert_batch(handle, level, values, n)
    local st = state_of(handle)
    local natts = #st.rel.columns
    for r = 0, n - 1 do
        local row, base = {}, r * natts
        for i = 1, natts do row[i] = values[base + i] end
        write(st, st.mapping.insert, level, row)
    end
end

function M.update(handle, level, old, new)
    local st = state_of(handle)
    return write(st, st.mapping.update, level, old, new)
end

function M.delete(handle, level, old)
    local st = state_of(handle)
    write(st, st.mapping.delete, level, old)
end

-- A statement's end: write_mode immediate sends its writes now.
function M.end_modify(handle)
    local st = P.states[handle]
    P.states[handle] = nil
    if st and st.write_mode == "immediate" then writes.flush("immediate") end
end

-- truncate(rel, level): TRUNCATE of a table whose option truncatable is true.
function M.truncate(rel, level)
    local v = rel.table.truncatable
    if not (v == "true" or v == "on" or v == "yes" or v == "1") then
        errors.raise{ sqlstate = "0A000",
            message = string.format("foreign table \"%s\" is not truncatable", rel.relname),
            detail = "TRUNCATE deletes every item of the DynamoDB table, one request per 25 items.",
            hint = "Set the table option truncatable 'true' to allow it." }
    end
    local m = mapping(mapping_of(rel))
    if not m.truncate then
        errors.raise{ sqlstate = "0A000",
            message = string.format("mapping \"%s\" does not support TRUNCATE", mapping_of(rel)) }
    end
    m.truncate(rel, level)
end

-- Transaction events (src/xact.c).
-- DynamoDB writes first: Kinesis records (change capture) describe a transaction that got that far.
function M.xact_pre_commit() writes.flush(); kinesis_buffer.flush() end

function M.xact_pre_prepare()
    kinesis_buffer.pre_prepare()
    if writes.pending() > 0 then
        errors.raise{ sqlstate = "0A000",
            message = "cannot prepare a transaction that has buffered DynamoDB writes",
            detail = "DynamoDB takes no part in two-phase commit." }
    end
end

local function end_of_transaction()
    -- Scan states of this transaction are gone with it (an error skips EndForeignScan).
    P.states = {}
end

function M.xact_end() writes.discard(); kinesis_buffer.discard(); end_of_transaction() end
function M.xact_abort() writes.discard(); kinesis_buffer.discard(); end_of_transaction() end
-- Kinesis first: should writes.abort_sub fail, C still drops the writes (dlf_lua_drop_writes).
function M.xact_abort_sub(level) kinesis_buffer.abort_sub(level); writes.abort_sub(level) end
function M.xact_commit_sub(level) writes.commit_sub(level); kinesis_buffer.commit_sub(level) end

-- import_schema(info) -> list of CREATE FOREIGN TABLE statements (IMPORT FOREIGN SCHEMA).
function M.import_schema(info)
    return json.array(mapping("typed").import(info))
end

-- The entry points a mapping script defines; check_script reports what is missing.
local MAPPING_FUNCTIONS = { "plan_scan", "begin_scan", "rescan", "fetch", "end_scan", "explain",
                            "begin_modify", "insert", "update", "delete" }

-- check_script(name) -> a one-line report; loads the script afresh (a syntax or load error raises
-- with its file:line) without touching the copy tables use.
function M.check_script(name)
    if not name:match("^[%w_]+$") then
        errors.raise{ sqlstate = "22023", message = string.format("invalid mapping name \"%s\"", name),
            hint = "Name a script dynamo_lua_fdw/mappings/<name>.lua with letters, digits and underscores." }
    end
    local modname = "dynamo_lua_fdw.mappings." .. name
    local loader = package.loaders[2](modname)
    if type(loader) ~= "function" then
        errors.raise{ sqlstate = "58P01", message = string.format("mapping script \"%s\" not found", name),
            detail = tostring(loader):gsub("^%s+", "") }
    end
    local m = loader(modname)
    if type(m) ~= "table" then
        errors.raise{ sqlstate = "HV000", message = string.format("mapping script \"%s\" does not return a table", name),
            hint = "End the script with: return M" }
    end
    local have, missing = {}, {}
    for _, f in ipairs(MAPPING_FUNCTIONS) do
        if type(m[f]) == "function" then have[#have + 1] = f else missing[#missing + 1] = f end
    end
    if #missing > 0 and #have > 0 and not m.plan_scan then
        errors.raise{ sqlstate = "HV000", message = string.format("mapping script \"%s\" cannot read tables", name),
            detail = "It does not define plan_scan." }
    end
    return string.format("dynamo_lua_fdw/mappings/%s.lua: defines %s%s", name, table.concat(have, ", "),
        #missing > 0 and ("; missing " .. table.concat(missing, ", ")) or "")
end

-- stats() -> JSON text of this backend's counters (SQL: dynamo_lua_fdw.stats()).
function M.stats()
    local s = {}
    for k, v in pairs(client.backend_stats()) do s[k] = v end
    for k, v in pairs(capi.http_stats()) do s[k] = v end
    s.buffered_writes = writes.pending()
    s.buffered_kinesis_records = kinesis_buffer.pending()
    return json.encode(s)
end

return M
