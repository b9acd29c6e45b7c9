-- The generic table, seed-compatible with the original dynamodb_fdw:
--   dynamodb(oid, region, table_name, partition_key, sort_key, document json)
-- region and table_name route the query; partition_key (and sort_key) pick
-- GetItem or Query over Scan.  Every qual is also checked by PostgreSQL, so a
-- key written differently (N '1.0' versus '1') never yields a wrong row.
local capi = require "dynamo_lua_fdw.capi"
local cjson = require "cjson"
local errors = require "dynamo_lua_fdw.errors"
local json = require "dynamo_lua_fdw.json"
local types = require "dynamo_lua_fdw.types"
local rowid = require "dynamo_lua_fdw.rowid"
local catalog = require "dynamo_lua_fdw.catalog"
local writes = require "dynamo_lua_fdw.writes"
local paging = require "dynamo_lua_fdw.paging"
local planner = require "dynamo_lua_fdw.planner"
local routing = require "dynamo_lua_fdw.routing"

local M = {}

local ROUTED = { "region", "table_name", "partition_key", "sort_key" }
local SCAN_WARNING = "DynamoDB FDW SCAN operation; this can be costly and time-consuming; use partition_key if possible"

-- ---------- planning ----------

-- The value source of the first usable equality on each routing column:
-- {v = text} a constant, {p = n} the n-th plan parameter, {vs = {...}} an IN list, {none = true} = NULL.
local function route_quals(rel)
    local found, params = {}, {}
    local used = {} -- column -> qual index
    local wanted = {}
    for _, c in ipairs(ROUTED) do wanted[c] = true end
    for _, q in ipairs(rel.quals) do
        -- text equality, and byte equality: not under a case-insensitive (non-deterministic) collation
        if wanted[q.column] and not found[q.column] and q.func == "texteq" and q.deterministic ~= false then
            if q.op == "=" and q.param then
                params[#params + 1] = q.param
                found[q.column] = { p = #params, label = q.label }
            elseif q.op == "=" and q.value ~= nil then
                found[q.column] = q.value == cjson.null and { none = true } or { v = q.value }
            elseif q.op == "= ANY" and q.values then
                local vs = {}
                for _, v in ipairs(q.values) do if v ~= cjson.null then vs[#vs + 1] = v end end
                found[q.column] = { vs = vs }
            end
            used[q.column] = found[q.column] and q.index
        end
    end
    return found, params, used
end

-- The names of the columns the query reads, or nil when it needs whole rows: the others are
-- not built (count(*) builds no oid and no document).
local function needed_columns(rel)
    if rel.needed_all or not rel.needed then return nil end
    local names = {}
    for _, attnum in ipairs(rel.needed) do names[#names + 1] = rel.columns[attnum].name end
    return json.array(names)
end

function M.plan_scan(rel)
    local r, params, used = route_quals(rel)
    -- without a region condition: every region the server option regions lists
    local listed = routing.regions(rel.server.options)
    if not r.region and listed then r.region = { vs = listed } end
    if not (r.region and r.table_name) then
        errors.raise{ sqlstate = "HV000",
            message = "a query on the dynamodb table must filter on region and table_name",
            detail = "Without them the foreign data wrapper does not know which DynamoDB table to read.",
            hint = "Add WHERE region = 'us-east-1' AND table_name = 'my_table' (IN lists work too)." }
    end
    if not rel.pushdown then r.partition_key, r.sort_key = nil, nil end -- routing only
    -- a sort key alone selects nothing DynamoDB can use (one Scan per value would repeat rows)
    if not r.partition_key then r.sort_key = nil end
    local op = r.partition_key and (r.sort_key and "GetItem" or "Query") or "Scan"
    local rows = ({ GetItem = 1, Query = 10, Scan = 1000 })[op]
    local startup = ({ GetItem = 10, Query = 25, Scan = 100 })[op]
    -- Rows carry the region and table they were read from: those quals are answered exactly.
    -- (Key quals are not: N '1.0' finds the item whose partition_key reads '1'.)
    local exact = {}
    if used.region then exact[used.region] = true end
    if used.table_name then exact[used.table_name] = true end
    -- document->>'k' = 'v' (and IN): a FilterExpression that finds a superset; PostgreSQL checks
    local terms = rel.pushdown and op ~= "GetItem" and planner.filter_terms(rel, { skip = {}, params = {},
        null = cjson.null, candidates = types.text_candidates,
        column = function(name) if name == "document" then return { type = "json" }, "" end end }) or {}
    local plan = { op = op, region = r.region, table_name = r.table_name, needed = needed_columns(rel),
                   partition_key = r.partition_key, sort_key = r.sort_key, limited = rel.limited,
                   filter = terms[1] and terms or nil }
    local nexact = 0
    for i = 1, rel.nquals do if exact[i] then nexact = nexact + 1 end end
    if op == "Scan" and rel.pushdown and nexact == rel.nquals then
        if rel.output and #rel.output == 0 and not rel.needed_all then plan.select_count = true end
        if rel.limit and not rel.ordered then plan.limit = rel.limit end
    end
    return {
        exact = exact,
        -- a join on partition_key can run one Query per outer row
        param = rel.pushdown and op == "Scan" and { column = "partition_key", rows = 10, startup_cost = 25,
                                                     total_cost = 35 } or nil,
        plan = plan,
        params = params,
        rows = rows, startup_cost = startup, total_cost = startup + rows * (op == "Scan" and 10 or 1),
    }
end

local source_text = planner.source_text

function M.explain(plan, verbose, st)
    local out = {
        "DynamoDB Operation", plan.op,
        "DynamoDB Table", source_text(plan.table_name),
        "DynamoDB Region", source_text(plan.region),
    }
    if plan.partition_key then
        local cond = "partition key " .. planner.source_text(plan.partition_key, true)
        if plan.sort_key then cond = cond .. " AND sort key " .. planner.source_text(plan.sort_key, true) end
        out[#out + 1] = plan.op == "GetItem" and "DynamoDB Key" or "DynamoDB Key Condition"
        out[#out + 1] = cond
    end
    if plan.filter then out[#out + 1] = "DynamoDB Filter"; out[#out + 1] = planner.filter_words(plan.filter) end
    if plan.select_count then out[#out + 1] = "DynamoDB Select"; out[#out + 1] = "COUNT" end
    if plan.limit then out[#out + 1] = "DynamoDB Limit"; out[#out + 1] = tostring(plan.limit) end
    if verbose then
        local req = ({
            GetItem = "GetItem Key={<partition key>, <sort key>}",
            Query = "Query KeyConditionExpression=\"#pk = :pk\", paginated",
            Scan = "Scan, paginated",
        })[plan.op]
        out[#out + 1] = "DynamoDB Request"
        out[#out + 1] = req
    end
    if st then
        out[#out + 1] = "DynamoDB Pages"; out[#out + 1] = tostring(st.pages)
        out[#out + 1] = "DynamoDB Items Returned"; out[#out + 1] = tostring(st.items)
        out[#out + 1] = "DynamoDB Items Scanned"; out[#out + 1] = tostring(st.scanned)
    end
    return out
end

-- ---------- scanning ----------

local function resolve(src, params)
    if not src then return { false } end
    if src.v then return { src.v } end
    if src.none then return {} end
    if src.p then
        local v = params[src.p]
        return v and { v } or {}
    end
    return src.vs
end

local function columns_of(rel)
    local idx = {}
    for _, c in ipairs(rel.columns) do
        if c.name then idx[c.name] = c.attnum end
    end
    return idx
end

-- The client of a (region, table): the endpoint may depend on both (routing.lua).
local function client_for(st, region, tbl)
    local id = region .. "\0" .. tbl
    local c = st.clients[id]
    if not c then
        c = routing.client(st.rel, region, tbl)
        st.clients[id] = c
    end
    return c
end

local function consistent(rel)
    local v = rel.table.consistent_read or rel.server.options.consistent_read
    return v == "true" or v == "on" or v == "1" or v == "yes"
end

-- One unit of work: a (region, table, partition key, sort key) combination.
local function make_tasks(plan, params)
    local tasks = {}
    for _, region in ipairs(resolve(plan.region, params)) do
        for _, tbl in ipairs(resolve(plan.table_name, params)) do
            for _, pk in ipairs(resolve(plan.partition_key, params)) do
                for _, sk in ipairs(resolve(plan.sort_key, params)) do
                    tasks[#tasks + 1] = { region = region, table = tbl, pk = pk or nil, sk = sk or nil }
                end
            end
        end
    end
    return tasks
end

local function start(st, params)
    paging.close(st)
    st.tasks = make_tasks(st.plan, params)
    st.task_i = 0
    st.seen = {}
end

function M.begin_scan(plan, rel, params)
    local cols = columns_of(rel)
    if plan.needed then
        local wanted = {}
        for _, name in ipairs(plan.needed) do wanted[name] = cols[name] end
        cols = wanted
    end
    local st = { plan = plan, rel = rel, clients = {}, pages = 0, items = 0, scanned = 0,
                 cols = cols, natts = #rel.columns, consistent = consistent(rel) }
    start(st, params)
    return st
end

function M.rescan(st, params) start(st, params) end


-- A key value typed by the key schema, or nil when no item can have it
-- (text that is not a number for an N key, say): such a query has no rows.
local function typed_key(text, key)
    local ok, av = pcall(types.key_value, text, key.type)
    if ok then return av end
    if not errors.is_structured(av) then error(av, 0) end
    return nil
end

-- Adds the plan's document filters to a Query or Scan request; a Query's filter cannot name
-- its key attributes (schema given), so those stay with PostgreSQL.
local function names_key(t, schema)
    if t.args then
        for _, a in ipairs(t.args) do if names_key(a, schema) then return true end end
        return false
    end
    local top = t.path and t.path[1]
    return top == schema.partition_key.name or (schema.sort_key ~= nil and top == schema.sort_key.name)
end

local function add_filter(request, terms, schema)
    local keep = {}
    for _, t in ipairs(terms) do
        if not (schema and names_key(t, schema)) then keep[#keep + 1] = t end
    end
    local expr, names, values = planner.filter_expression(keep, function() return {} end, function() return nil end)
    if not expr then return end
    request.FilterExpression = expr
    request.ExpressionAttributeNames = request.ExpressionAttributeNames or {}
    request.ExpressionAttributeValues = request.ExpressionAttributeValues or {}
    for k, v in pairs(names) do request.ExpressionAttributeNames[k] = v end
    for k, v in pairs(values) do request.ExpressionAttributeValues[k] = v end
end

-- The reader of one task, or nil when no item can match it.
local function begin_task(st, t)
    local c = client_for(st, t.region, t.table)
    local schema = catalog.describe(c, t.table)
    t.schema = schema
    local pk_av = t.pk and typed_key(t.pk, schema.partition_key)
    local sk_av = t.sk and schema.sort_key and typed_key(t.sk, schema.sort_key)
    if (t.pk and not pk_av) or (t.sk and t.pk and not sk_av) then return nil end
    -- the same table, or key, listed twice (IN ('a', 'a'), or 1 and 1.0) is read once
    local id = t.region .. "\0" .. t.table .. "\0" .. (pk_av and planner.canonical(pk_av) or "")
        .. "\0" .. (sk_av and planner.canonical(sk_av) or "")
    if st.seen[id] then return nil end
    st.seen[id] = true
    local op, request = paging.request(t.table, schema, pk_av, sk_av, st.consistent)
    st.scanning = st.scanning or op == "Scan"
    local prefetch, segments = paging.read_ahead(st.rel, schema.size_bytes, st.plan.limited)
    if st.plan.filter and op ~= "GetItem" then add_filter(request, st.plan.filter, op == "Query" and schema) end
    if op == "Scan" then
        request.Select = st.plan.select_count and "COUNT" or nil
        request.Limit = st.plan.limit
        if segments > 1 then return paging.segmented_reader(c, request, segments) end
    end
    return paging.reader(c, op, request, prefetch)
end

-- Appends the rows of items to values (flat, natts per row).
local function add_rows(st, t, items, values, n)
    local cols, natts, schema = st.cols, st.natts, t.schema
    local pk, sk = schema.partition_key, schema.sort_key
    for _, item in ipairs(items) do
        local base = n * natts
        if type(item[pk.name]) ~= "table" or (sk and type(item[sk.name]) ~= "table") then
            errors.malformed("Query/Scan", "has an item without its key attributes")
        end
        local keys = { { name = pk.name, value = item[pk.name] } }
        if sk then keys[2] = { name = sk.name, value = item[sk.name] } end
        if cols.oid then values[base + cols.oid] = rowid.compose(t.region, t.table, keys) end
        if cols.region then values[base + cols.region] = t.region end
        if cols.table_name then values[base + cols.table_name] = t.table end
        if cols.partition_key then values[base + cols.partition_key] = types.key_text(item[pk.name]) end
        if cols.sort_key and sk then values[base + cols.sort_key] = types.key_text(item[sk.name]) end
        if cols.document then values[base + cols.document] = types.item_to_json(item) end
        n = n + 1
    end
    return n
end

-- Sends the first request now (not under a LIMIT, which may never want it).
function M.prime(st)
    if st.plan.limited then return 0 end
    return paging.prime(st, begin_task)
end

-- One page per call, so LIMIT stops the paging.
function M.fetch(st)
    local items, task, n = paging.next_page(st, begin_task)
    -- warned when rows are fetched, not when a Scan is sent early (prime): a scan the executor
    -- never runs warns of nothing
    st.fetched = true
    if st.scanning and not st.warned then
        st.warned = true
        capi.log("WARNING", SCAN_WARNING)
    end
    if not items then return nil, 0 end
    if st.plan.select_count then return {}, n end -- count(*): rows nobody reads
    local values = {}
    return values, add_rows(st, task, items, values, 0)
end

function M.end_scan(st)
    paging.close(st)
    if not st.fetched then return end -- begun (and primed) but never run: nothing to report
    capi.log("NOTICE", string.format(
        "DynamoDB FDW retrieved %d pages containing %d records; DynamoDB scanned %d records server-side",
        st.pages, st.items, st.scanned))
    local throttled = 0
    for _, c in pairs(st.clients) do throttled = throttled + c.stats.throttled end
    if throttled > 0 then
        capi.log("NOTICE", string.format("DynamoDB throttled this scan %d times; the requests were retried", throttled))
    end
end

-- ---------- writing ----------

function M.begin_modify(rel)
    return { rel = rel, clients = {}, cols = columns_of(rel), natts = #rel.columns }
end

local function av_equal(a, b)
    local ta, va = next(a)
    local tb, vb = next(b)
    return ta == tb and va == vb
end

-- Puts the key given in a key column into item, refusing a different value in the document.
local function apply_key(item, key, text, column)
    if text == nil then return end
    if not key then
        errors.raise{ sqlstate = "22023", message = string.format("%s was given, but the table has no sort key", column),
            hint = "Leave sort_key NULL for tables with only a partition key." }
    end
    local av = types.key_value(text, key.type)
    local inside = item[key.name]
    if inside and not av_equal(inside, av) then
        errors.raise{ sqlstate = "22023",
            message = string.format("%s \"%s\" conflicts with attribute \"%s\" in document", column, text, key.name),
            hint = "Give the key once, or give the same value in both places." }
    end
    item[key.name] = av
end

local function key_list(item, schema)
    local keys = {}
    for i, key in ipairs({ schema.partition_key, schema.sort_key }) do
        local av = item[key.name]
        if not av then
            errors.raise{ sqlstate = "23502",
                message = string.format("the item has no %s attribute \"%s\"", i == 1 and "partition key" or "sort key", key.name),
                hint = string.format("Give %s, or put attribute \"%s\" in document.",
                    i == 1 and "partition_key" or "sort_key", key.name) }
        end
        if not (av.S or av.N or av.B) or next(av, next(av)) then
            errors.raise{ sqlstate = "22023",
                message = string.format("key attribute \"%s\" must be a string, number or binary value", key.name) }
        end
        if av.S == "" or av.B == "" then
            errors.raise{ sqlstate = "22023",
                message = string.format("key attribute \"%s\" cannot be empty", key.name),
                detail = "DynamoDB refuses empty strings and binaries as key values." }
        end
        keys[i] = { name = key.name, value = av }
    end
    return keys
end

-- The item a new row describes, with its target.  For UPDATE (old given), a key
-- column changed while document was left alone moves the document's copy of the key along.
local function new_item(st, row, old)
    local c = st.cols
    local region, tbl, doc = row[c.region], row[c.table_name], row[c.document]
    if not (region and tbl and doc) then
        errors.raise{ sqlstate = "23502",
            message = "writing to the dynamodb table needs region, table_name and document",
            hint = "Give all three, e.g. INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'my_table', '{\"id\": \"1\"}')." }
    end
    local client = client_for(st, region, tbl)
    local schema = catalog.describe(client, tbl)
    local item = types.json_to_item(doc)
    if old and doc == old[c.document] then
        for col, key in pairs({ partition_key = schema.partition_key, sort_key = schema.sort_key }) do
            if row[c[col]] ~= old[c[col]] then item[key.name] = nil end
        end
    end
    apply_key(item, schema.partition_key, row[c.partition_key], "partition_key")
    apply_key(item, schema.sort_key, row[c.sort_key], "sort_key")
    local keys = key_list(item, schema)
    return { client = client, region = region, table = tbl, item = item, keys = keys,
             oid = rowid.compose(region, tbl, keys), schema = schema }
end

local function stored_row(st, w)
    local values = {}
    add_rows(st, { region = w.region, table = w.table, schema = w.schema }, { w.item }, values, 0)
    return values
end

local function key_map(keys)
    local m = {}
    for _, k in ipairs(keys) do m[k.name] = k.value end
    return m
end

local function buffer_put(st, level, w)
    local e = writes.put_entry(st.rel, w.table, w.schema, w.oid, w.item)
    e.level, e.client = level, w.client
    writes.add(e)
end

local function buffer_delete(st, level, oid)
    local region, tbl, keys = rowid.parse(oid)
    writes.add{ level = level, client = client_for(st, region, tbl), table = tbl,
                key = oid, describe = oid, delete = key_map(keys) }
end

function M.insert(st, level, new)
    local w = new_item(st, new)
    buffer_put(st, level, w)
    return stored_row(st, w)
end

function M.update(st, level, old, new)
    local old_oid = old[st.cols.oid]
    local w = new_item(st, new, old)
    if w.oid ~= old_oid then buffer_delete(st, level, old_oid) end -- a changed key: delete plus put
    buffer_put(st, level, w)
    return stored_row(st, w)
end

function M.delete(st, level, old)
    buffer_delete(st, level, old[st.cols.oid])
end

return M
