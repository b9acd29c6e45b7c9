-- Typed foreign tables: OPTIONS (table 'Name'); each column is one attribute
-- (column option attribute when the names differ), a jsonb column with
-- raw_item 'true' holds the whole item.  Conditions on the key columns become
-- GetItem or Query (planner.lua decides which are exact); every qual is also
-- checked by PostgreSQL.
local errors = require "dynamo_lua_fdw.errors"
local json = require "dynamo_lua_fdw.json"
local types = require "dynamo_lua_fdw.types"
local columns = require "dynamo_lua_fdw.columns"
local catalog = require "dynamo_lua_fdw.catalog"
local paging = require "dynamo_lua_fdw.paging"
local writes = require "dynamo_lua_fdw.writes"
local client_mod = require "dynamo_lua_fdw.aws.client"
local planner = require "dynamo_lua_fdw.planner"
local cjson = require "cjson"
local capi = require "dynamo_lua_fdw.capi"

local M = {}

local function truthy(v) return v == "true" or v == "on" or v == "1" or v == "yes" end

local function new_client(rel)
    return client_mod.new{ server_options = rel.server.options, user_options = rel.user }
end

local function table_name(rel)
    return rel.table.table
end

-- The column of each attribute, skipping the raw item column.
local function columns_by_attribute(rel)
    local by = {}
    for _, col in ipairs(rel.columns) do
        if col.name and not columns.is_raw_item(col) then by[columns.attribute_name(col)] = col end
    end
    return by
end

-- The attributes the query reads, plus the keys (rows are named by them), or nil for all.
local function projection(rel, schema)
    if rel.needed_all or not rel.needed then return nil end
    local attrs, seen = {}, {}
    local function add(name)
        if not seen[name] then seen[name] = true; attrs[#attrs + 1] = name end
    end
    add(schema.partition_key.name)
    if schema.sort_key then add(schema.sort_key.name) end
    for _, attnum in ipairs(rel.needed) do
        local col = rel.columns[attnum]
        if columns.is_raw_item(col) then return nil end
        add(columns.attribute_name(col))
    end
    return attrs
end

-- ProjectionExpression and its names for a request.
local function project(request, attrs)
    if not attrs then return request end
    local parts = {}
    request.ExpressionAttributeNames = request.ExpressionAttributeNames or {}
    for i, name in ipairs(attrs) do
        parts[i] = "#p" .. i
        request.ExpressionAttributeNames["#p" .. i] = name
    end
    request.ProjectionExpression = table.concat(parts, ", ")
    return request
end

function M.plan_scan(rel)
    if rel.table.index and rel.table.index ~= "none" then
        errors.raise{ sqlstate = "0A000", message = "table option index is not supported yet",
            detail = "Secondary indexes are not used for reading in this version.",
            hint = "Remove the option, or set it to 'none'." }
    end
    local tbl = table_name(rel)
    local schema = catalog.describe(new_client(rel), tbl)
    local by = columns_by_attribute(rel)
    local params = {}
    local keys = rel.pushdown and planner.key_conditions(rel, schema, by, params, cjson.null) or nil
    local op = "Scan"
    if keys then
        local single = keys.pk.v or keys.pk.p
        op = (keys.sk and keys.sk.eq and single) and "GetItem" or "Query"
    end
    local count = schema.item_count or 1000
    local n = keys and keys.pk.vs and #keys.pk.vs or 1
    local rows = op == "GetItem" and 1 or op == "Query" and 10 * n or math.max(count, 1)
    local startup = ({ GetItem = 10, Query = 25, Scan = 100 })[op]
    -- One Query returns its rows in sort key order: offer it to ORDER BY (not several: an IN list).
    local sk_col = op == "Query" and not keys.pk.vs and schema.sort_key and by[schema.sort_key.name]
    -- A join on the partition key can run one Query per outer row.
    local pk_col = by[schema.partition_key.name]
    local param = rel.pushdown and not keys and pk_col and planner.key_column(pk_col, schema.partition_key)
        and { column = pk_col.name, rows = 10, startup_cost = 25, total_cost = 35 } or nil
    return {
        param = param,
        plan = { op = op, table = tbl, keys = keys, projection = projection(rel, schema) },
        params = params, rows = rows, startup_cost = startup,
        total_cost = startup + rows * (op == "Scan" and 10 or 1),
        order_column = sk_col and planner.key_column(sk_col, schema.sort_key) and sk_col.name or nil,
    }
end

local source_text = planner.source_text

-- The key condition in PostgreSQL's words, for EXPLAIN.
local function condition_text(keys)
    local out = keys.pk_column .. " " .. source_text(keys.pk, true)
    local sk, c = keys.sk, keys.sk_column
    if not sk then return out end
    if sk.eq then return out .. " AND " .. c .. " = " .. source_text(sk.eq) end
    if sk.prefix then return out .. " AND " .. c .. " LIKE '" .. sk.prefix .. "%'" end
    if sk.lo and sk.hi then
        return out .. " AND " .. c .. " BETWEEN " .. source_text(sk.lo) .. " AND " .. source_text(sk.hi)
    end
    if sk.lo then return out .. " AND " .. c .. " " .. sk.lo_op .. " " .. source_text(sk.lo) end
    return out .. " AND " .. c .. " " .. sk.hi_op .. " " .. source_text(sk.hi)
end

function M.explain(plan, verbose, st, direction)
    local out = { "DynamoDB Operation", plan.op, "DynamoDB Table", plan.table }
    if plan.keys then
        out[#out + 1] = plan.op == "GetItem" and "DynamoDB Key" or "DynamoDB Key Condition"
        out[#out + 1] = condition_text(plan.keys)
    end
    if direction == "desc" then
        out[#out + 1] = "DynamoDB Order"; out[#out + 1] = "descending (ScanIndexForward false)"
    elseif direction == "asc" then
        out[#out + 1] = "DynamoDB Order"; out[#out + 1] = "ascending"
    end
    if verbose and plan.projection then
        out[#out + 1] = "DynamoDB Projection"; out[#out + 1] = table.concat(plan.projection, ", ")
    end
    if verbose and plan.op == "Query" then
        -- the request as sent, with placeholders; values are the sources above
        local placeholders = {}
        local expr = planner.key_expression({ partition_key = { name = "?" }, sort_key = { name = "?" } },
            plan.keys.sk, placeholders)
        out[#out + 1] = "DynamoDB Request"
        out[#out + 1] = "Query KeyConditionExpression=\"" .. expr .. "\"" ..
            (direction == "desc" and " ScanIndexForward=false" or "")
    end
    if st then
        out[#out + 1] = "DynamoDB Requests"; out[#out + 1] = tostring(st.pages)
        out[#out + 1] = "DynamoDB Items Returned"; out[#out + 1] = tostring(st.items)
        out[#out + 1] = "DynamoDB Items Scanned"; out[#out + 1] = tostring(st.scanned)
        if st.capacity then
            out[#out + 1] = "DynamoDB Read Capacity"; out[#out + 1] = string.format("%g RCU", st.capacity)
        end
    end
    return out
end

-- ---------- scanning ----------

local function column_plan(rel)
    local readers = {}
    for _, col in ipairs(rel.columns) do
        if col.name then
            readers[#readers + 1] = { attnum = col.attnum, raw = columns.is_raw_item(col),
                attribute = columns.attribute_name(col), decode = columns.decoder(col) }
        end
    end
    return readers
end

-- The values of a source: a list of texts (empty when NULL).
local function values_of(src, params)
    if src.v then return { src.v } end
    if src.p then return params[src.p] and { params[src.p] } or {} end
    local out = {}
    for _, v in ipairs(src.vs) do if v ~= cjson.null then out[#out + 1] = v end end
    return out
end

local function start(st, params)
    st.tasks, st.task_i, st.reader, st.seen = {}, 0, nil, {}
    local keys = st.plan.keys
    if not keys then
        st.tasks[1] = {}
        return
    end
    local sk = keys.sk or {}
    local one = function(src) return src and values_of(src, params)[1] end
    local task = { eq = one(sk.eq), lo = one(sk.lo), hi = one(sk.hi), prefix = sk.prefix }
    -- a NULL bound matches nothing
    if (sk.eq and not task.eq) or (sk.lo and not task.lo) or (sk.hi and not task.hi) then return end
    for _, pk in ipairs(values_of(keys.pk, params)) do
        st.tasks[#st.tasks + 1] = { pk = pk, eq = task.eq, lo = task.lo, hi = task.hi, prefix = task.prefix }
    end
end

function M.begin_scan(plan, rel, params, direction)
    local st = { plan = plan, rel = rel, pages = 0, items = 0, scanned = 0, natts = #rel.columns,
                 client = new_client(rel), readers = column_plan(rel), direction = direction,
                 consistent = truthy(rel.table.consistent_read or rel.server.options.consistent_read) }
    st.schema = catalog.describe(st.client, plan.table)
    st.by = columns_by_attribute(rel)
    start(st, params)
    return st
end

function M.rescan(st, params) start(st, params) end

-- A key AttributeValue from the text of a qual's value, or nil when no item can have it
-- (text that is no number for an N key, say).
local function key_av(st, key, text)
    local ok, av = pcall(columns.encoder(st.by[key.name]), text)
    if ok and (av.S == "" or av.B == "") then return nil end -- key values are never empty
    if ok then return av end
    if not errors.is_structured(av) then error(av, 0) end
    return nil
end

local function begin_task(st, t)
    local p, schema = st.plan, st.schema
    if not p.keys then
        return paging.reader(st.client, "Scan",
            project({ TableName = p.table, ConsistentRead = st.consistent or nil }, p.projection))
    end
    local v = { pk = key_av(st, schema.partition_key, t.pk) }
    if not v.pk then return nil end
    -- a key listed twice (pk IN ('a', 'a'), or 1 and 1.0) is fetched once: no row comes back twice
    local id = planner.canonical(v.pk)
    if st.seen[id] then return nil end
    st.seen[id] = true
    for _, name in ipairs({ "eq", "lo", "hi" }) do
        if t[name] then
            v[name] = key_av(st, schema.sort_key, t[name])
            if not v[name] then return nil end
        end
    end
    if t.prefix then v.prefix = { S = t.prefix } end
    if v.lo and v.hi and planner.compare(v.lo, v.hi) > 0 then return nil end -- an empty range
    if v.eq then
        return paging.reader(st.client, "GetItem", project({ TableName = p.table, ConsistentRead = st.consistent or nil,
            Key = { [schema.partition_key.name] = v.pk, [schema.sort_key.name] = v.eq } }, p.projection))
    end
    local expr, names, values = planner.key_expression(schema, p.keys.sk, v)
    local request = { TableName = p.table, ConsistentRead = st.consistent or nil,
        KeyConditionExpression = expr, ExpressionAttributeNames = names, ExpressionAttributeValues = values }
    if st.direction == "desc" then request.ScanIndexForward = false end
    return paging.reader(st.client, "Query", project(request, p.projection))
end

-- "pk = 'x', sk = 1" naming an item in error messages.
local function describe_key(schema, item)
    local parts = {}
    for _, key in ipairs({ schema.partition_key, schema.sort_key }) do
        local av = item[key.name]
        if av then parts[#parts + 1] = key.name .. " = " .. json.encode(av[key.type] or "?") end
    end
    return table.concat(parts, ", ")
end

function M.fetch(st)
    local items = paging.next_page(st, begin_task)
    if not items then return nil, 0 end
    local values, where, natts = {}, {}, st.natts
    for r, item in ipairs(items) do
        local base = (r - 1) * natts
        local key = describe_key(st.schema, item)
        where[r] = key
        for _, c in ipairs(st.readers) do
            values[base + c.attnum] = c.decode(c.raw and item or item[c.attribute], key)
        end
    end
    return values, #items, where
end

function M.end_scan() end

-- ---------- writing ----------

function M.begin_modify(rel)
    local st = { rel = rel, client = new_client(rel), table = table_name(rel), cols = {} }
    st.schema = catalog.describe(st.client, st.table)
    for _, col in ipairs(rel.columns) do
        if col.name then
            st.cols[#st.cols + 1] = { attnum = col.attnum, name = col.name, raw = columns.is_raw_item(col),
                attribute = columns.attribute_name(col), encode = columns.encoder(col) }
        end
    end
    return st
end

-- The key attributes of an item, refusing a missing key.
local function item_key(st, item)
    local key, parts = {}, {}
    for _, k in ipairs({ st.schema.partition_key, st.schema.sort_key }) do
        local av = item[k.name]
        if not av then
            errors.raise{ sqlstate = "23502",
                message = string.format("the row has no value for key attribute \"%s\" of DynamoDB table \"%s\"", k.name, st.table),
                hint = "Give the key columns a value." }
        end
        key[k.name] = av
        parts[#parts + 1] = json.encode(k.name) .. ":" .. json.encode(av)
    end
    return key, "{" .. table.concat(parts, ",") .. "}"
end

-- The item a row describes: the raw item column (if any) overlaid with the other columns.
local function row_item(st, row)
    local item = {}
    for _, c in ipairs(st.cols) do
        if c.raw and row[c.attnum] then item = c.encode(row[c.attnum]) end
    end
    for _, c in ipairs(st.cols) do
        if not c.raw then item[c.attribute] = c.encode(row[c.attnum]) end
    end
    return item
end

local function buffer(st, level, entry)
    entry.level, entry.client, entry.table = level, st.client, st.table
    writes.add(entry)
end

function M.insert(st, level, new)
    local item = row_item(st, new)
    local _, text = item_key(st, item)
    buffer(st, level, writes.put_entry(st.rel, st.table, st.schema, text, item))
    return new
end

function M.delete(st, level, old)
    local key, text = item_key(st, row_item(st, old))
    buffer(st, level, { key = text, describe = text, delete = key })
end

-- UPDATE sends only the changed columns (SET or REMOVE), so attributes no column
-- maps are kept; a changed key or raw item column replaces the item instead.
function M.update(st, level, old, new)
    local old_key, old_text = item_key(st, row_item(st, old))
    local item = row_item(st, new)
    local _, new_text = item_key(st, item)
    local replace = new_text ~= old_text
    for _, c in ipairs(st.cols) do
        if c.raw and new[c.attnum] ~= old[c.attnum] then replace = true end
    end
    if replace then
        if new_text ~= old_text then buffer(st, level, { key = old_text, describe = old_text, delete = old_key }) end
        buffer(st, level, { key = new_text, describe = new_text, put = item })
        return new
    end
    local request = M.update_request(st.table, old_key, st.cols, old, new, item)
    if request then
        buffer(st, level, { key = old_text, describe = old_text, request = request })
    end
    return new
end

-- The UpdateItem of an UPDATE that changed some columns: SET for new values, REMOVE for
-- NULLs, nothing for unchanged columns (so attributes no column maps are kept).
-- cols: {attnum=, attribute=, raw=} per column; item: the new row's attributes.
-- Returns the request, or nil when no mapped column changed.
function M.update_request(table_name, key, cols, old, new, item)
    local sets, removes, names, values = {}, {}, {}, {}
    for i, c in ipairs(cols) do
        if not c.raw and new[c.attnum] ~= old[c.attnum] then
            names["#a" .. i] = c.attribute
            local av = item[c.attribute]
            if av then
                values[":v" .. i] = av
                sets[#sets + 1] = "#a" .. i .. " = :v" .. i
            else
                removes[#removes + 1] = "#a" .. i
            end
        end
    end
    if #sets + #removes == 0 then return nil end
    local expr = {}
    if #sets > 0 then expr[#expr + 1] = "SET " .. table.concat(sets, ", ") end
    if #removes > 0 then expr[#expr + 1] = "REMOVE " .. table.concat(removes, ", ") end
    return { op = "UpdateItem", params = {
        TableName = table_name, Key = key, UpdateExpression = table.concat(expr, " "),
        ExpressionAttributeNames = names, ExpressionAttributeValues = next(values) and values or nil } }
end

-- TRUNCATE: read every key (a Scan of the key attributes only) and buffer a delete for each;
-- like other writes they are sent at commit and discarded by a rollback.
function M.truncate(rel, level)
    local st = M.begin_modify(rel)
    local key_names = { st.schema.partition_key.name, st.schema.sort_key and st.schema.sort_key.name }
    local stats = { pages = 0, items = 0, scanned = 0 }
    local reader = paging.reader(st.client, "Scan", project({ TableName = st.table }, key_names))
    capi.log("WARNING", string.format("TRUNCATE of DynamoDB table \"%s\" reads every key and deletes the items at commit, 25 per request", st.table))
    while not reader.done do
        for _, item in ipairs(reader:next_page(stats)) do
            local key, text = item_key(st, item)
            buffer(st, level, { key = text, describe = text, delete = key })
        end
    end
end

-- ---------- IMPORT FOREIGN SCHEMA ----------

local IMPORT_OPTIONS = { sample_size = true, raw_item_column = true, table_prefix = true }

-- import(info) -> list of CREATE FOREIGN TABLE statements.
function M.import(info)
    for name in pairs(info.options) do
        if not IMPORT_OPTIONS[name] then
            errors.raise{ sqlstate = "HV00D", message = string.format("invalid IMPORT FOREIGN SCHEMA option \"%s\"", name),
                hint = "Valid options are: sample_size, raw_item_column, table_prefix." }
        end
    end
    local sample_size = tonumber(info.options.sample_size or "100")
    if not sample_size or sample_size < 0 or sample_size % 1 ~= 0 then
        errors.raise{ sqlstate = "22023", message = "sample_size must be a non-negative integer" }
    end
    local prefix = info.options.table_prefix or ""
    local listed = {}
    for _, t in ipairs(info.tables) do listed[t] = true end
    local client = client_mod.new{ server_options = info.server.options, user_options = info.user }

    local names, start = {}, nil
    repeat
        local resp = client:call("ListTables", { ExclusiveStartTableName = start })
        if type(resp.TableNames or {}) ~= "table" then errors.malformed("ListTables", "has no list of TableNames") end
        for _, n in ipairs(resp.TableNames or {}) do
            if type(n) ~= "string" then errors.malformed("ListTables", "has a table name that is no string") end
            names[#names + 1] = n
        end
        start = resp.LastEvaluatedTableName
        if start ~= nil and type(start) ~= "string" then
            errors.malformed("ListTables", "has a LastEvaluatedTableName that is no string")
        end
    until not start

    local statements = {}
    for _, name in ipairs(names) do
        local local_name = name:sub(#prefix + 1)
        local wanted = name:sub(1, #prefix) == prefix and #local_name > 0
            and (info.list_type == "all" or (info.list_type == "limit") == (listed[local_name] == true))
        if wanted then
            local schema = catalog.describe(client, name)
            local items = {}
            if sample_size > 0 then
                local stats = { pages = 0, items = 0, scanned = 0 }
                items = paging.reader(client, "Scan", { TableName = name, Limit = sample_size }):next_page(stats)
            end
            local defs = columns.infer(items, schema, { raw_item_column = info.options.raw_item_column })
            statements[#statements + 1] = columns.create_table_sql(info.local_schema, local_name,
                info.server.name, name, defs, {})
        end
    end
    return statements
end

return M
