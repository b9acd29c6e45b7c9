-- Example mapping: a single-table design.
--
-- One DynamoDB table holds several kinds of items under composite string keys.
-- The orders of a user are the items
--
--     pk = 'USER#<user_id>'    sk = 'ORDER#<yyyy-mm-dd>#<order_id>'    total N, status S, ...
--
-- and this script shows them as
--
--     CREATE FOREIGN TABLE orders (user_id text, order_date date, order_id text,
--                                  total numeric, status text)
--         SERVER dynamodb_server OPTIONS (mapping 'orders', table 'AppTable');
--
-- user_id, order_date and order_id come from the keys; every other column is
-- an attribute of the same name (column option attribute when the names
-- differ), read and written with the typed mapping's converters.  Items of
-- other kinds (a 'PROFILE' sort key, another pk prefix) are not rows.
--
-- Pushed down to DynamoDB:
--   user_id = 'u1' (or = $1, or IN (...))  -> Query on pk = 'USER#u1' instead of a Scan;
--                                             a join on user_id: one Query per outer row
--   order_date =, <, <=, >, >=, BETWEEN     -> a sort key condition of that Query:
--       order_date = d             begins_with(sk, 'ORDER#d#')
--       order_date BETWEEN a AND b sk BETWEEN 'ORDER#a' AND 'ORDER#b~'
--   ('#' sorts before '~', so 'ORDER#b~' is above every 'ORDER#b#<id>' and below
--   the next date: the range holds exactly the orders dated a to b.)
-- PostgreSQL checks every condition again, so a pushed condition may select
-- more than the query wants but must never select less; a value this script
-- cannot translate exactly (a date not written yyyy-mm-dd, as under DateStyle
-- SQL, or outside years 0001-9999; text equality
-- under a non-deterministic collation) is simply not pushed.
--
-- Without a user_id condition the table is read with a Scan filtered on the
-- key prefixes.  A Query on one user returns the orders by date, so
-- ORDER BY order_date [DESC] needs no Sort (DESC reads backwards).
--
-- INSERT builds pk and sk from user_id, order_date and order_id; DELETE
-- deletes that item; UPDATE changes the other columns with UpdateItem, or
-- deletes and puts the item when a key column changes (attributes that no
-- column maps are not carried over then).
local errors = require "dynamo_lua_fdw.errors"
local json = require "dynamo_lua_fdw.json"
local columns = require "dynamo_lua_fdw.columns"
local catalog = require "dynamo_lua_fdw.catalog"
local paging = require "dynamo_lua_fdw.paging"
local writes = require "dynamo_lua_fdw.writes"
local client_mod = require "dynamo_lua_fdw.aws.client"
local typed = require "dynamo_lua_fdw.mappings.typed"

local M = {}

local USER, ORDER = "USER#", "ORDER#"
local DATE = "^%d%d%d%d%-%d%d%-%d%d$"                      -- what may go into a sort key
local SK = "^ORDER#(%d%d%d%d%-%d%d%-%d%d)#(.+)$"           -- what an order's sort key looks like

-- PostgreSQL's comparison functions that compare two dates (not a date with a timestamp).
local DATE_OPS = { date_eq = "=", date_lt = "<", date_le = "<=", date_gt = ">", date_ge = ">=" }
local TEXT_TYPES = { text = true, ["character varying"] = true }

local function truthy(v) return v == "true" or v == "on" or v == "1" or v == "yes" end

local function new_client(rel)
    return client_mod.new{ server_options = rel.server.options, user_options = rel.user }
end

-- The DynamoDB table and its key attribute names; both keys must be strings.
local function key_schema(rel, client)
    local tbl = rel.table.table
    if not tbl then
        errors.raise{ sqlstate = "HV000", message = "the orders mapping needs the table option",
            hint = "Add OPTIONS (mapping 'orders', table '<DynamoDB table>')." }
    end
    local schema = catalog.describe(client or new_client(rel), tbl)
    if schema.partition_key.type ~= "S" or not schema.sort_key or schema.sort_key.type ~= "S" then
        errors.raise{ sqlstate = "HV000",
            message = string.format("DynamoDB table \"%s\" does not have string partition and sort keys", tbl),
            detail = "The orders mapping reads pk = 'USER#<user_id>' and sk = 'ORDER#<date>#<order_id>'." }
    end
    return tbl, schema
end

local function column_named(rel, name)
    for _, col in ipairs(rel.columns) do
        if col.name == name then return col end
    end
end

-- ---------- planning ----------

-- A value source: {v = text} a constant, {p = n} the n-th parameter, {vs = {...}} an IN list.
local function param_source(q, params)
    for i, k in ipairs(params) do
        if k == q.param then return { p = i } end
    end
    params[#params + 1] = q.param
    return { p = #params }
end

-- The tighter of two constant bounds {v =, strict =} on one side (dir 1: lower, -1: upper).
local function tighter(a, b, dir)
    if not a then return b end
    if a.v ~= b.v then return ((a.v > b.v) == (dir == 1)) and a or b end
    return a.strict and a or b
end

-- The conditions of rel.quals this script can push down: on user_id (text equality)
-- and on order_date (date comparisons).  Constants that are not plain ISO dates are
-- left to PostgreSQL; of several constant bounds on one side the tightest is kept.
local function pushable(rel, params)
    local uid, odate = column_named(rel, "user_id"), column_named(rel, "order_date")
    local user, eq, lo, hi, lo_param, hi_param
    for _, q in ipairs(rel.quals) do
        if uid and q.column == "user_id" and TEXT_TYPES[uid.type] and q.func == "texteq"
            and q.deterministic ~= false and not user then
            if q.op == "=" and q.param then
                user = param_source(q, params)
            elseif q.op == "=" and type(q.value) == "string" then
                user = { v = q.value }
            elseif q.op == "= ANY" and q.values then
                local vs = json.array()
                for _, v in ipairs(q.values) do
                    if type(v) == "string" then vs[#vs + 1] = v end
                end
                user = { vs = vs }
            end
        elseif odate and q.column == "order_date" and odate.type == "date" and DATE_OPS[q.func] == q.op then
            local const = type(q.value) == "string" and q.value:match(DATE) and q.value
            local strict = q.op == "<" or q.op == ">"
            if q.op == "=" then
                if const then eq = { v = const } elseif q.param and not eq then eq = param_source(q, params) end
            elseif q.op == ">" or q.op == ">=" then
                if const then lo = tighter(lo, { v = const, strict = strict }, 1)
                elseif q.param and not lo_param then lo_param = param_source(q, params); lo_param.strict = strict end
            else
                if const then hi = tighter(hi, { v = const, strict = strict }, -1)
                elseif q.param and not hi_param then hi_param = param_source(q, params); hi_param.strict = strict end
            end
        end
    end
    local date
    if eq then
        date = { eq = eq }
    elseif lo or hi or lo_param or hi_param then
        date = { lo = lo or lo_param, hi = hi or hi_param }
    end
    return user, date
end

function M.plan_scan(rel)
    local tbl, schema = key_schema(rel)
    local params = {}
    local user, date
    if rel.pushdown ~= false then user, date = pushable(rel, params) end
    local op = user and "Query" or "Scan"
    local users = user and user.vs and #user.vs or 1
    local rows = op == "Query" and 10 * users or math.max(schema.item_count or 1000, 1)
    local startup = op == "Query" and 25 or 100
    -- A join on user_id can run one Query per outer row: C offers that path, and when it is
    -- chosen plans again with the join clause among the quals, its outer side a parameter.
    local uid = column_named(rel, "user_id")
    local param = rel.pushdown ~= false and not user and uid and TEXT_TYPES[uid.type]
        and { column = "user_id", rows = 10, startup_cost = 25, total_cost = 35 } or nil
    return {
        param = param,
        plan = { op = op, table = tbl, pk_name = schema.partition_key.name, sk_name = schema.sort_key.name,
                 user = user, date = date },
        params = params, rows = rows, startup_cost = startup,
        total_cost = startup + rows * (op == "Scan" and 10 or 1),
        -- A Query on one user returns rows by sort key, that is by order_date.
        order_column = op == "Query" and not user.vs and "order_date" or nil,
    }
end

-- The sort key condition for resolved date values: {prefix = text}, {lo =, hi =} (BETWEEN,
-- inclusive), or nil when no item can match.  lo/hi: {v = 'yyyy-mm-dd', strict = bool}.
--   d >= a  <=>  sk >= 'ORDER#a'       d > a  <=>  sk >= 'ORDER#a~'
--   d <= b  <=>  sk <= 'ORDER#b~'      d < b  <=>  sk <= 'ORDER#b'
-- for every sk 'ORDER#d#<id>' with d a yyyy-mm-dd date; the defaults 'ORDER#' and
-- 'ORDER#~' bound all orders.
function M.sort_key_condition(eq, lo, hi)
    if eq then return { prefix = ORDER .. eq .. "#" } end
    local from = lo and (ORDER .. lo.v .. (lo.strict and "~" or "")) or ORDER
    local to = hi and (ORDER .. hi.v .. (hi.strict and "" or "~")) or (ORDER .. "~")
    if from > to then return nil end
    return { lo = from, hi = to }
end

local function quote(s) return "'" .. s:gsub("'", "''") .. "'" end

-- A source as SQL text for EXPLAIN: the constant, or ? for a parameter (whose value is
-- known when the scan starts).
local function source_sql(src, prefix, suffix)
    if src.p then
        return quote(prefix) .. " || ?" .. (suffix ~= "" and (" || " .. quote(suffix)) or "")
    end
    return quote(prefix .. src.v .. suffix)
end

local function sort_key_sql(sk, cond)
    if cond.prefix then return "begins_with(" .. sk .. ", " .. quote(cond.prefix) .. ")" end
    return sk .. " BETWEEN " .. quote(cond.lo) .. " AND " .. quote(cond.hi)
end

-- The condition as planned.
local function condition_sql(plan)
    local pk, sk, out = plan.pk_name, plan.sk_name, nil
    local u = plan.user
    if u then
        if u.vs then
            local parts = {}
            for i, v in ipairs(u.vs) do parts[i] = quote(USER .. v) end
            out = pk .. " IN (" .. table.concat(parts, ", ") .. ")"
        else
            out = pk .. " = " .. source_sql(u, USER, "")
        end
    else
        out = "begins_with(" .. pk .. ", " .. quote(USER) .. ")"
    end
    local d = plan.date
    if d and d.eq then
        return out .. " AND begins_with(" .. sk .. ", " .. source_sql(d.eq, ORDER, "#") .. ")"
    end
    local lo = d and d.lo and source_sql(d.lo, ORDER, d.lo.strict and "~" or "") or quote(ORDER)
    local hi = d and d.hi and source_sql(d.hi, ORDER, d.hi.strict and "" or "~") or quote(ORDER .. "~")
    return out .. " AND " .. sk .. " BETWEEN " .. lo .. " AND " .. hi
end

-- The condition as sent by a scan whose plan has parameters (EXPLAIN ANALYZE).
local function sent_sql(plan, st)
    local t = st.tasks[1]
    if not t then return "none: no item can match" end
    local pk = t.user and (plan.pk_name .. " = " .. quote(USER .. t.user))
        or ("begins_with(" .. plan.pk_name .. ", " .. quote(USER) .. ")")
    return pk .. " AND " .. sort_key_sql(plan.sk_name, t.cond)
end

local function has_params(plan)
    local d = plan.date or {}
    for _, src in pairs({ plan.user or false, d.eq or false, d.lo or false, d.hi or false }) do
        if src and src.p then return true end
    end
    return false
end

function M.explain(plan, verbose, st, direction)
    local out = { "DynamoDB Operation", plan.op, "DynamoDB Table", plan.table,
                  plan.op == "Query" and "DynamoDB Key Condition" or "DynamoDB Filter",
                  (st and has_params(plan)) and sent_sql(plan, st) or condition_sql(plan) }
    if direction == "desc" then
        out[#out + 1] = "DynamoDB Order"; out[#out + 1] = "descending (ScanIndexForward false)"
    end
    if st then
        out[#out + 1] = "DynamoDB Requests"; out[#out + 1] = tostring(st.pages)
        out[#out + 1] = "DynamoDB Items Returned"; out[#out + 1] = tostring(st.items)
        out[#out + 1] = "DynamoDB Items Scanned"; out[#out + 1] = tostring(st.scanned)
    end
    return out
end

-- ---------- scanning ----------

-- How each column is read: from the keys, or an attribute through columns.decoder.
local function readers(rel)
    local out = {}
    for _, col in ipairs(rel.columns) do
        if col.name == "user_id" or col.name == "order_date" or col.name == "order_id" then
            out[#out + 1] = { attnum = col.attnum, part = col.name }
        elseif col.name then
            out[#out + 1] = { attnum = col.attnum, raw = columns.is_raw_item(col),
                              attribute = columns.attribute_name(col), decode = columns.decoder(col) }
        end
    end
    return out
end

-- Resolves the plan's sources with this scan's parameter values into tasks:
-- one per user (or one Scan), each with its sort key condition.
local function start(st, params)
    st.tasks, st.task_i, st.reader = {}, 0, nil
    local plan = st.plan
    local function value(src)
        if not src then return nil end
        if src.v then return src.v end
        local v = params[src.p]
        -- a parameter that is NULL matches nothing; one that is no plain date is not pushed
        if v == nil then return false end
        return v:match(DATE) and v or nil
    end
    local cond
    if plan.date then
        local d = plan.date
        local eq = value(d.eq)
        local lo = value(d.lo)
        local hi = value(d.hi)
        if eq == false or lo == false or hi == false then return end
        cond = M.sort_key_condition(eq, lo and { v = lo, strict = d.lo.strict }, hi and { v = hi, strict = d.hi.strict })
    else
        cond = M.sort_key_condition()
    end
    if not cond then return end -- an empty date range: no request at all
    if not plan.user then
        st.tasks[1] = { cond = cond }
        return
    end
    local users = plan.user.vs
    if not users then
        local u = plan.user.v or params[plan.user.p]
        users = u and { u } or {}
    end
    for _, u in ipairs(users) do st.tasks[#st.tasks + 1] = { user = u, cond = cond } end
end

function M.begin_scan(plan, rel, params, direction)
    local st = { plan = plan, rel = rel, natts = #rel.columns, pages = 0, items = 0, scanned = 0,
                 client = new_client(rel), readers = readers(rel), direction = direction,
                 consistent = truthy(rel.table.consistent_read or rel.server.options.consistent_read) }
    start(st, params)
    return st
end

function M.rescan(st, params) start(st, params) end

-- The request of one task: a Query on the user's partition, or a Scan filtered on the prefixes.
local function begin_task(st, t)
    local plan = st.plan
    local req = { TableName = plan.table, ConsistentRead = st.consistent or nil,
                  ExpressionAttributeNames = { ["#pk"] = plan.pk_name, ["#sk"] = plan.sk_name },
                  ExpressionAttributeValues = {} }
    local values = req.ExpressionAttributeValues
    local skexpr
    if t.cond.prefix then
        skexpr = "begins_with(#sk, :sk)"
        values[":sk"] = { S = t.cond.prefix }
    else
        skexpr = "#sk BETWEEN :lo AND :hi"
        values[":lo"], values[":hi"] = { S = t.cond.lo }, { S = t.cond.hi }
    end
    if t.user then
        values[":pk"] = { S = USER .. t.user }
        req.KeyConditionExpression = "#pk = :pk AND " .. skexpr
        if st.direction == "desc" then req.ScanIndexForward = false end
        return paging.reader(st.client, "Query", req)
    end
    values[":pk"] = { S = USER }
    req.FilterExpression = "begins_with(#pk, :pk) AND " .. skexpr
    return paging.reader(st.client, "Scan", req)
end

-- Fills row r (1-based) of values from an order item; false when the item is not an order.
local function decode_row(st, item, values, r, where)
    local pk, sk = item[st.plan.pk_name], item[st.plan.sk_name]
    local user = pk and pk.S and pk.S:sub(1, #USER) == USER and pk.S:sub(#USER + 1)
    local date, id
    if sk and sk.S then date, id = sk.S:match(SK) end
    if not (user and date) then return false end
    local parts = { user_id = user, order_date = date, order_id = id }
    local base = (r - 1) * st.natts
    for _, c in ipairs(st.readers) do
        if c.part then
            values[base + c.attnum] = parts[c.part]
        else
            values[base + c.attnum] = c.decode(c.raw and item or item[c.attribute], where)
        end
    end
    return true
end

function M.fetch(st)
    while true do
        local items = paging.next_page(st, begin_task)
        if not items then return nil, 0 end
        local values, where, n = {}, {}, 0
        for _, item in ipairs(items) do
            local key = string.format("%s = %s, %s = %s", st.plan.pk_name, json.encode(item[st.plan.pk_name] or "?"),
                st.plan.sk_name, json.encode(item[st.plan.sk_name] or "?"))
            if decode_row(st, item, values, n + 1, key) then
                n = n + 1
                where[n] = key
            end
        end
        if n > 0 then return values, n, where end
        -- a page of other kinds of items only: read on (0 rows would end the scan)
    end
end

function M.end_scan() end

-- ---------- writing ----------

function M.begin_modify(rel)
    local st = { rel = rel, client = new_client(rel), cols = {}, parts = {} }
    st.table, st.schema = key_schema(rel, st.client)
    local key_attr = { [st.schema.partition_key.name] = true, [st.schema.sort_key.name] = true }
    for _, col in ipairs(rel.columns) do
        if col.name == "user_id" or col.name == "order_date" or col.name == "order_id" then
            st.parts[col.name] = col.attnum
        elseif col.name and not columns.is_raw_item(col) and not key_attr[columns.attribute_name(col)] then
            st.cols[#st.cols + 1] = { attnum = col.attnum, attribute = columns.attribute_name(col),
                                      encode = columns.encoder(col) }
        end
    end
    for _, name in ipairs({ "user_id", "order_date", "order_id" }) do
        if not st.parts[name] then
            errors.raise{ sqlstate = "HV000", message = "the orders mapping cannot write a table without column " .. name,
                hint = "Declare the columns user_id text, order_date date and order_id text." }
        end
    end
    return st
end

-- The key of a row: {pk = {S=}, sk = {S=}} and its canonical text (as the typed mapping writes it).
local function row_key(st, row)
    local user, date, id = row[st.parts.user_id], row[st.parts.order_date], row[st.parts.order_id]
    for name, v in pairs({ user_id = user or false, order_date = date or false, order_id = id or false }) do
        if not v or v == "" then
            errors.raise{ sqlstate = "23502", message = string.format("column \"%s\" of an order cannot be empty", name),
                detail = "user_id, order_date and order_id make up the item's key." }
        end
    end
    if not date:match(DATE) then
        errors.raise{ sqlstate = "22008", message = string.format("order_date %s cannot be written to a sort key", date),
            detail = "Sort keys hold dates of years 0001 to 9999 as yyyy-mm-dd." }
    end
    local pk, sk = st.schema.partition_key.name, st.schema.sort_key.name
    local key = { [pk] = { S = USER .. user }, [sk] = { S = ORDER .. date .. "#" .. id } }
    local text = "{" .. json.encode(pk) .. ":" .. json.encode(key[pk]) .. ","
        .. json.encode(sk) .. ":" .. json.encode(key[sk]) .. "}"
    return key, text
end

local function buffer(st, level, entry)
    entry.level, entry.client, entry.table = level, st.client, st.table
    writes.add(entry)
end

local function row_item(st, row)
    local key, text = row_key(st, row)
    local item = {}
    for _, c in ipairs(st.cols) do item[c.attribute] = c.encode(row[c.attnum]) end
    for k, v in pairs(key) do item[k] = v end
    return item, key, text
end

function M.insert(st, level, new)
    local item, _, text = row_item(st, new)
    -- a put, or under INSERT ... ON CONFLICT DO NOTHING one that never replaces an item
    buffer(st, level, writes.put_entry(st.rel, st.table, st.schema, text, item))
    return new
end

function M.delete(st, level, old)
    local key, text = row_key(st, old)
    buffer(st, level, { key = text, describe = text, delete = key })
end

function M.update(st, level, old, new)
    local old_key, old_text = row_key(st, old)
    local item, _, new_text = row_item(st, new)
    if new_text ~= old_text then
        buffer(st, level, { key = old_text, describe = old_text, delete = old_key })
        buffer(st, level, { key = new_text, describe = new_text, put = item })
        return new
    end
    local request = typed.update_request(st.table, old_key, st.cols, old, new, item)
    if request then
        buffer(st, level, { key = old_text, describe = old_text, request = request })
    end
    return new
end

return M
