-- Typed foreign tables: OPTIONS (table 'Name'); each column is one attribute
-- (column option attribute when the names differ), a jsonb column with
-- raw_item 'true' holds the whole item.  Conditions on the keys of the table
-- or of a secondary index become GetItem, BatchGetItem or Query; conditions
-- on other columns a FilterExpression (planner.lua decides which are exact:
-- PostgreSQL checks every other qual).  With nothing left to check, LIMIT is
-- sent as Limit and count(*) as Select COUNT.
local errors = require "dynamo_lua_fdw.errors"
local json = require "dynamo_lua_fdw.json"
local types = require "dynamo_lua_fdw.types"
local columns = require "dynamo_lua_fdw.columns"
local catalog = require "dynamo_lua_fdw.catalog"
local paging = require "dynamo_lua_fdw.paging"
local writes = require "dynamo_lua_fdw.writes"
local client_mod = require "dynamo_lua_fdw.aws.client"
local routing = require "dynamo_lua_fdw.routing"
local planner = require "dynamo_lua_fdw.planner"
local cjson = require "cjson"
local capi = require "dynamo_lua_fdw.capi"

local M = {}

local function truthy(v) return v == "true" or v == "on" or v == "1" or v == "yes" end

local function new_client(rel)
    return routing.client(rel, nil, rel.table.table)
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

-- The attribute names an index returns, or nil for all (projection ALL).
local function index_attributes(index, schema)
    if index.projection == "ALL" then return nil end
    local have = {}
    for _, ks in ipairs({ schema, index }) do
        have[ks.partition_key.name] = true
        if ks.sort_key then have[ks.sort_key.name] = true end
    end
    for _, a in ipairs(index.non_key) do have[a] = true end
    return have
end

-- Does the index hold every item the quals can select, with the attributes the query reads?
-- A secondary index holds only items that have its key attributes: its partition key is
-- guaranteed by the key condition, its sort key only by a condition on it (or IS NOT NULL).
local function index_serves(rel, index, schema, keys, attrs)
    if index.sort_key and not (keys.sk) then
        local col = columns_by_attribute(rel)[index.sort_key.name]
        local present = false
        for _, q in ipairs(rel.quals) do
            if col and q.column == col.name and q.op == "IS NOT NULL" then present = true end
        end
        if not present then return false end
    end
    local have = index_attributes(index, schema)
    if have == nil then return true end
    if attrs == nil then return false end
    for _, a in ipairs(attrs) do
        if not have[a] then return false end
    end
    return true
end

local function encodable(col, text)
    local ok, av = pcall(columns.encoder(col), text)
    if not ok then
        if not errors.is_structured(av) then error(av, 0) end
        return nil
    end
    if av == nil or av.S == "" or av.B == "" then return nil end -- no empty values: keep them local
    return av
end

-- The key conditions to use and the index they are on (nil: the table).  The table's own key
-- wins; then the first index whose key the quals give and that serves the query.  Table option
-- index names the one index to read (even as a Scan: the table then shows that index's items)
-- or 'none'.  With pushdown off there are no key conditions.
local function choose_keys(rel, schema, by, params, consistent, attrs)
    local forced = rel.table.index
    local function conditions(key_schema, into)
        return rel.pushdown and planner.key_conditions(rel, key_schema, by, into, cjson.null, encodable) or nil
    end
    if forced == "none" then return conditions(schema, params), nil end
    local keys
    if not forced then
        keys = conditions(schema, params)
        if (keys and keys.sk) or not rel.pushdown then return keys, nil end
    end
    for _, index in ipairs(schema.indexes or {}) do
        -- with the table's partition key alone, a local index whose sort key the quals bound reads less
        local wanted = not keys or (not index.global and index.partition_key.name == schema.partition_key.name)
        if forced == index.name then
            if index.global and consistent then
                errors.raise{ sqlstate = "0A000",
                    message = string.format("global secondary index \"%s\" cannot be read with consistent_read", forced),
                    hint = "Set consistent_read 'false' for this table, or read a local secondary index." }
            end
            return conditions(index, params), index
        elseif not forced and wanted and not (index.global and consistent) then
            local trial = { unpack(params) }
            local k = conditions(index, trial)
            if k and (k.sk or not keys) and index_serves(rel, index, schema, k, attrs) then
                for i = #params + 1, #trial do params[i] = trial[i] end
                return k, index
            end
        end
    end
    if forced then
        errors.raise{ sqlstate = "HV00R",
            message = string.format("DynamoDB table \"%s\" has no active secondary index \"%s\"", rel.table.table, forced),
            hint = "Name an index DescribeTable lists, or set the table option index to 'none'." }
    end
    return keys, nil
end

function M.plan_scan(rel)
    local tbl = table_name(rel)
    local schema = catalog.describe(new_client(rel), tbl)
    local by = columns_by_attribute(rel)
    local consistent = truthy(rel.table.consistent_read or rel.server.options.consistent_read)
    local attrs = projection(rel, schema)
    local params = {}
    local keys, index = choose_keys(rel, schema, by, params, consistent, attrs)
    local key_schema = index or schema
    local op = "Scan"
    if keys then
        local single = keys.pk.v or keys.pk.p
        if index then
            op = "Query"
        elseif (keys.sk and keys.sk.eq) or not schema.sort_key then -- the whole key
            op = single and "GetItem" or "BatchGetItem"
        else
            op = "Query"
        end
    end
    -- conditions DynamoDB checks on the items a Query or Scan reads (not GetItem/BatchGetItem)
    local terms = {}
    if rel.pushdown and (op == "Query" or op == "Scan") then
        local skip = {}
        for _, i in ipairs(keys and keys.exact or {}) do skip[i] = true end
        if op == "Query" then -- DynamoDB refuses key attributes in a Query's filter
            for _, ks in ipairs({ schema, key_schema }) do
                skip[ks.partition_key.name] = true
                if ks.sort_key then skip[ks.sort_key.name] = true end
            end
        end
        terms = planner.filter_terms(rel, { skip = skip, params = params, null = cjson.null, encode = encodable,
            candidates = types.text_candidates,
            column = function(name)
                for _, col in ipairs(rel.columns) do
                    if col.name == name then -- a path into the raw item column starts at the item
                        return col, columns.is_raw_item(col) and "" or columns.attribute_name(col)
                    end
                end
            end })
    end
    local exact, nexact = {}, 0
    for _, i in ipairs(keys and keys.exact or {}) do exact[i] = true end
    for _, t in ipairs(terms) do if t.exact then exact[t.index] = true end end
    for i = 1, rel.nquals do if exact[i] then nexact = nexact + 1 end end
    local all_exact = nexact == rel.nquals
    local plan = { op = op, table = tbl, keys = keys, filter = terms[1] and terms or nil, limited = rel.limited,
        index = index and { name = index.name, partition_key = index.partition_key, sort_key = index.sort_key },
        projection = attrs }
    if (op == "Query" or op == "Scan") and all_exact then
        -- count(*) and the like read no column: DynamoDB counts (Select COUNT) and sends no items
        if rel.output and #rel.output == 0 and not rel.needed_all then
            plan.select_count, plan.projection = true, nil
        end
        -- nothing left for PostgreSQL to filter: the first page need be no larger than LIMIT
        if rel.limit then plan.limit, plan.limit_if_ordered = rel.limit, rel.ordered or nil end
    end

    local count = schema.item_count or 1000
    local n = keys and keys.pk.vs and #keys.pk.vs or 1
    local rows = (op == "GetItem" and 1) or (op == "BatchGetItem" and n) or (op == "Query" and 10 * n)
        or math.max(count, 1)
    -- each pushed-down condition keeps about a third of the rows
    rows = math.max(1, math.floor(rows / (3 ^ #terms)))
    local startup = ({ GetItem = 10, BatchGetItem = 15, Query = 25, Scan = 100 })[op]
    -- One Query returns its rows in sort key order: offer it to ORDER BY (not several: an IN list).
    local sk_col = op == "Query" and not keys.pk.vs and key_schema.sort_key and by[key_schema.sort_key.name]
    -- A join on the partition key can run one Query per outer row.
    local pk_col = by[schema.partition_key.name]
    local param = rel.pushdown and not keys and pk_col and planner.key_column(pk_col, schema.partition_key)
        and { column = pk_col.name, rows = 10, startup_cost = 25, total_cost = 35 } or nil
    -- a Scan that PostgreSQL's parallel workers can share, segment by segment
    local _, segments = paging.read_ahead(rel, schema.size_bytes, rel.limited)
    return {
        parallel_segments = op == "Scan" and segments > 1 and segments or nil,
        param = param, plan = plan, params = params, exact = exact, rows = rows, startup_cost = startup,
        total_cost = startup + rows * (op == "Scan" and 10 or 1) + (op == "Scan" and 10 * count or 0),
        order_column = sk_col and planner.key_column(sk_col, key_schema.sort_key) and sk_col.name or nil,
    }
end

local source_text = planner.source_text

-- The key condition in PostgreSQL's words, for EXPLAIN.
local function condition_text(keys)
    local out = keys.pk_column .. " " .. source_text(keys.pk, true)
    local sk, c = keys.sk, keys.sk_column
    if not sk then return out end
    if sk.eq then return out .. " AND " .. c .. " = " .. source_text(sk.eq) end
    if sk.prefix then return out .. " AND " .. c .. " LIKE '" .. sk.prefix:gsub("'", "''") .. "%'" end
    if sk.lo and sk.hi then
        return out .. " AND " .. c .. " BETWEEN " .. source_text(sk.lo) .. " AND " .. source_text(sk.hi)
    end
    if sk.lo then return out .. " AND " .. c .. " " .. sk.lo_op .. " " .. source_text(sk.lo) end
    return out .. " AND " .. c .. " " .. sk.hi_op .. " " .. source_text(sk.hi)
end

-- The Limit a scan sends: LIMIT (+ OFFSET) when PostgreSQL takes the rows as they come.
local function page_limit(plan, direction)
    if plan.limit and (not plan.limit_if_ordered or direction) then return plan.limit end
end

function M.explain(plan, verbose, st, direction)
    local out = { "DynamoDB Operation", plan.op, "DynamoDB Table", plan.table }
    local function add(label, value) out[#out + 1] = label; out[#out + 1] = value end
    if plan.index then add("DynamoDB Index", plan.index.name) end
    if plan.keys then
        add((plan.op == "GetItem" or plan.op == "BatchGetItem") and "DynamoDB Key" or "DynamoDB Key Condition",
            condition_text(plan.keys))
    end
    if plan.filter then add("DynamoDB Filter", planner.filter_words(plan.filter)) end
    if direction == "desc" then
        add("DynamoDB Order", "descending (ScanIndexForward false)")
    elseif direction == "asc" then
        add("DynamoDB Order", "ascending")
    end
    if plan.select_count then add("DynamoDB Select", "COUNT") end
    local limit = page_limit(plan, direction)
    if limit then add("DynamoDB Limit", tostring(limit)) end
    if verbose and plan.projection then add("DynamoDB Projection", table.concat(plan.projection, ", ")) end
    if verbose and (plan.op == "Query" or plan.filter) then
        -- the request as sent, with placeholders; values are the sources above
        local req = { plan.op }
        if plan.index then req[#req + 1] = "IndexName=" .. plan.index.name end
        if plan.op == "Query" then
            local expr = planner.key_expression({ partition_key = { name = "?" }, sort_key = { name = "?" } },
                plan.keys.sk, {})
            req[#req + 1] = "KeyConditionExpression=\"" .. expr .. "\""
        end
        if plan.filter then req[#req + 1] = "FilterExpression=\"" .. planner.filter_text(plan.filter) .. "\"" end
        if direction == "desc" then req[#req + 1] = "ScanIndexForward=false" end
        add("DynamoDB Request", table.concat(req, " "))
    end
    if st then
        add("DynamoDB Requests", tostring(st.pages))
        add("DynamoDB Items Returned", tostring(st.items))
        add("DynamoDB Items Scanned", tostring(st.scanned))
        if st.capacity then add("DynamoDB Read Capacity", string.format("%g RCU", st.capacity)) end
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
    return planner.values_of(src, params, cjson.null)
end

local function start(st, params)
    paging.close(st)
    st.tasks, st.task_i, st.seen = {}, 0, {}
    st.filter = nil
    local p = st.plan
    if p.filter then
        local expr, names, values = planner.filter_expression(p.filter, function(src) return values_of(src, params) end,
            function(term, text) return encodable(st.by_name[term.column], text) end)
        if expr == false then return end -- a condition on a NULL parameter: no row matches
        if expr then st.filter = { expr = expr, names = names, values = values } end
    end
    local keys = p.keys
    if not keys then
        st.tasks[1] = {}
        return
    end
    local sk = keys.sk or {}
    local one = function(src) return src and values_of(src, params)[1] end
    local task = { eq = one(sk.eq), lo = one(sk.lo), hi = one(sk.hi), prefix = sk.prefix }
    -- a NULL bound matches nothing
    if (sk.eq and not task.eq) or (sk.lo and not task.lo) or (sk.hi and not task.hi) then return end
    local pks = values_of(keys.pk, params)
    if p.op == "BatchGetItem" then
        st.tasks[1] = { pks = pks, eq = task.eq }
        return
    end
    for _, pk in ipairs(pks) do
        st.tasks[#st.tasks + 1] = { pk = pk, eq = task.eq, lo = task.lo, hi = task.hi, prefix = task.prefix }
    end
end

local CAPACITY_HINT = "Add a condition on the partition key, or raise max_scan_capacity (table or server option, "
    .. "or SET dynamo_lua_fdw.max_scan_capacity)."

-- Stops a Scan that consumes more read capacity than max_scan_capacity allows.
local function check_capacity(st)
    if st.max_capacity and (st.capacity or 0) > st.max_capacity then
        errors.raise{ sqlstate = "54000",
            message = string.format("DynamoDB Scan of table \"%s\" stopped after %g read capacity units",
                st.plan.table, st.capacity),
            detail = string.format("max_scan_capacity is %d.", st.max_capacity), hint = CAPACITY_HINT }
    end
end

-- part: {segment =, segments =} when this process reads one segment of a parallel Scan.
function M.begin_scan(plan, rel, params, direction, part)
    local st = { plan = plan, rel = rel, pages = 0, items = 0, scanned = 0, natts = #rel.columns,
                 client = new_client(rel), readers = column_plan(rel), direction = direction,
                 consistent = truthy(rel.table.consistent_read or rel.server.options.consistent_read) }
    st.schema = catalog.describe(st.client, plan.table)
    st.by = columns_by_attribute(rel)
    st.by_name = {}
    for _, col in pairs(st.by) do st.by_name[col.name] = col end
    st.prefetch, st.segments = paging.read_ahead(rel, st.schema.size_bytes, plan.limited or page_limit(plan, direction))
    st.part = part
    if plan.op == "Scan" then
        local limit = tonumber(rel.table.max_scan_capacity or rel.server.options.max_scan_capacity)
            or tonumber(rel.max_scan_capacity) or 0
        if limit > 0 then
            st.max_capacity, st.check_page = limit, check_capacity
            -- a Scan reads the whole table: 1 unit per 4 KB, half that when eventually consistent
            local estimate = (st.schema.size_bytes or 0) / 4096 * (st.consistent and 1 or 0.5)
            if estimate > limit then
                errors.raise{ sqlstate = "54000",
                    message = string.format("DynamoDB Scan of table \"%s\" would consume about %d read capacity units",
                        plan.table, math.ceil(estimate)),
                    detail = string.format("max_scan_capacity is %d; the table holds %d bytes.", limit, st.schema.size_bytes),
                    hint = CAPACITY_HINT }
            end
        end
    end
    start(st, params)
    return st
end

-- part: the next segment this process reads of a parallel Scan (counts carry on).
function M.rescan(st, params, part)
    st.part = part or st.part
    start(st, params)
end


-- A key AttributeValue from the text of a qual's value, or nil when no item can have it
-- (text that is no number for an N key, say).
local function key_av(st, key, text)
    local ok, av = pcall(columns.encoder(st.by[key.name]), text)
    if ok and (av.S == "" or av.B == "") then return nil end -- key values are never empty
    if ok then return av end
    if not errors.is_structured(av) then error(av, 0) end
    return nil
end

-- Marks a key value as read; false when it was already (pk IN ('a', 'a'), or 1 and 1.0), so no
-- row comes back twice.
local function first_time(st, av)
    local id = planner.canonical(av)
    if st.seen[id] then return false end
    st.seen[id] = true
    return true
end

-- A Query or Scan request with what the plan adds: filter, projection or COUNT, Limit.
local function read_request(st, request)
    local p = st.plan
    request.TableName, request.ConsistentRead = p.table, st.consistent or nil
    if p.index then request.IndexName = p.index.name end
    if st.filter then
        request.FilterExpression = st.filter.expr
        request.ExpressionAttributeNames = request.ExpressionAttributeNames or {}
        request.ExpressionAttributeValues = request.ExpressionAttributeValues or {}
        for k, v in pairs(st.filter.names) do request.ExpressionAttributeNames[k] = v end
        for k, v in pairs(st.filter.values) do request.ExpressionAttributeValues[k] = v end
    end
    if p.select_count then request.Select = "COUNT" end
    request.Limit = page_limit(p, st.direction)
    return project(request, p.projection)
end

local function begin_task(st, t)
    local p = st.plan
    local schema = p.index or st.schema
    if not p.keys then
        if st.part then -- one segment of a Scan that parallel workers share
            return paging.reader(st.client, "Scan",
                read_request(st, { Segment = st.part.segment, TotalSegments = st.part.segments }), st.prefetch)
        end
        if st.segments > 1 then return paging.segmented_reader(st.client, read_request(st, {}), st.segments) end
        return paging.reader(st.client, "Scan", read_request(st, {}), st.prefetch)
    end
    if t.pks then -- BatchGetItem: every distinct key, with the sort key value when there is one
        local keys = {}
        local sk_av = t.eq and key_av(st, schema.sort_key, t.eq)
        if t.eq and not sk_av then return nil end
        for _, text in ipairs(t.pks) do
            local av = key_av(st, schema.partition_key, text)
            if av and first_time(st, av) then
                local key = { [schema.partition_key.name] = av }
                if sk_av then key[schema.sort_key.name] = sk_av end
                keys[#keys + 1] = key
            end
        end
        local template = project({ ConsistentRead = st.consistent or nil }, p.projection)
        return paging.batch_reader(st.client, p.table, keys, template)
    end
    local v = { pk = key_av(st, schema.partition_key, t.pk) }
    if not v.pk or not first_time(st, v.pk) then return nil end
    local sk = p.keys.sk
    if t.eq then
        v.eq = key_av(st, schema.sort_key, t.eq)
        if not v.eq then return nil end -- no item has that key
    end
    if t.lo or t.hi then
        -- a bound DynamoDB cannot hold (a parameter beyond its number range) is left to PostgreSQL
        v.lo, v.hi = t.lo and key_av(st, schema.sort_key, t.lo), t.hi and key_av(st, schema.sort_key, t.hi)
        sk = (v.lo or v.hi) and { lo = v.lo and sk.lo, lo_op = sk.lo_op, hi = v.hi and sk.hi, hi_op = sk.hi_op } or nil
    end
    if t.prefix then v.prefix = { S = t.prefix } end
    if v.lo and v.hi and planner.compare(v.lo, v.hi) > 0 then return nil end -- an empty range
    if p.op == "GetItem" then
        local key = { [schema.partition_key.name] = v.pk }
        if v.eq then key[schema.sort_key.name] = v.eq end
        return paging.reader(st.client, "GetItem",
            project({ TableName = p.table, ConsistentRead = st.consistent or nil, Key = key }, p.projection))
    end
    local expr, names, values = planner.key_expression(schema, sk, v)
    local request = { KeyConditionExpression = expr, ExpressionAttributeNames = names, ExpressionAttributeValues = values }
    if st.direction == "desc" then request.ScanIndexForward = false end
    return paging.reader(st.client, "Query", read_request(st, request), st.prefetch)
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

-- Sends the first request now (not under a LIMIT, which may never want it).
function M.prime(st)
    if not st.prefetch then return 0 end
    return paging.prime(st, begin_task)
end

function M.fetch(st)
    local items, _, n = paging.next_page(st, begin_task)
    if not items then return nil, 0 end
    if st.plan.select_count then return {}, n end -- rows nobody reads: count(*)
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

function M.end_scan(st) paging.close(st) end

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
    local request = M.update_request(st.table, old_key, st.cols, old, new, item, st.rel.increments)
    if request then
        buffer(st, level, { key = old_text, describe = old_text, request = request })
    end
    return new
end

-- The UpdateItem of an UPDATE that changed some columns: SET for new values, REMOVE for
-- NULLs, nothing for unchanged columns (so attributes no column maps are kept).  A column the
-- UPDATE set to itself plus a constant (increments[attnum] = delta, "n = n + 1") is sent as
-- SET #n = #n + :delta, so an increment by another session in between is not lost.
-- cols: {attnum=, attribute=, raw=} per column; item: the new row's attributes.
-- Returns the request, or nil when no mapped column changed.
function M.update_request(table_name, key, cols, old, new, item, increments)
    local sets, removes, names, values, increments_used = {}, {}, {}, {}, false
    for i, c in ipairs(cols) do
        if not c.raw and new[c.attnum] ~= old[c.attnum] then
            names["#a" .. i] = c.attribute
            local av = item[c.attribute]
            local delta = increments and increments[tostring(c.attnum)]
            if av and av.N and delta and old[c.attnum] ~= nil then
                values[":v" .. i] = { N = delta }
                sets[#sets + 1] = "#a" .. i .. " = #a" .. i .. " + :v" .. i
                increments_used = true
            elseif av then
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
    -- an increment applied twice is wrong: it is never sent again once it may have arrived
    return { op = "UpdateItem", once = increments_used or nil, params = {
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
