-- The example mapping scripts of lua/examples/ against an in-memory DynamoDB stand-in that
-- evaluates the key conditions and filters they send: above all, that what orders.lua pushes
-- down never loses a row PostgreSQL would have kept (t/003_mapping_examples.pl runs them for real).
local T = require "testlib"
local writes = require "dynamo_lua_fdw.writes"

-- ---------- an in-memory DynamoDB: just the requests the mappings make ----------

local PAGE = 3 -- items per page, so that paging is exercised
local db, calls = {}, {}

local function key_names(t) return t.pk, t.sk end

-- Evaluates "clause AND clause ..." with the clause forms the mappings send.
local function matches(expr, names, values, item)
    local pos = 1
    local function attr(ref) local a = item[names[ref]]; return a and (a.S or a.N) end
    local function val(ref) local v = values[ref]; return v.S or v.N end
    while pos <= #expr do
        local ok
        local a, v, e = expr:match("^(#%w+) = (:%w+)()", pos)
        if a then
            ok = attr(a) == val(v)
        else
            local lo, hi
            a, v, e = expr:match("^begins_with%((#%w+), (:%w+)%)()", pos)
            if a then
                local s = attr(a)
                ok = s ~= nil and s:sub(1, #val(v)) == val(v)
            else
                a, lo, hi, e = expr:match("^(#%w+) BETWEEN (:%w+) AND (:%w+)()", pos)
                if not a then error("stub DynamoDB: cannot evaluate " .. expr:sub(pos)) end
                local s = attr(a)
                ok = s ~= nil and s >= val(lo) and s <= val(hi)
                assert(val(lo) <= val(hi), "DynamoDB refuses BETWEEN with lower > upper")
            end
        end
        if not ok then return false end
        pos = e
        if expr:sub(pos, pos + 4) == " AND " then pos = pos + 5 elseif pos <= #expr then error("stub: " .. expr) end
    end
    return true
end

-- ProjectionExpression: only the attributes named (as "#p1, #p2" placeholders).
local function project(item, req)
    if not req.ProjectionExpression then return item end
    local out = {}
    for ref in req.ProjectionExpression:gmatch("#%w+") do
        local name = req.ExpressionAttributeNames[ref]
        out[name] = item[name]
    end
    return out
end

local function page(list, req, filter)
    local start = req.ExclusiveStartKey and tonumber(req.ExclusiveStartKey.i.N) or 0
    local items, scanned = {}, 0
    for i = start + 1, math.min(start + PAGE, #list) do
        scanned = scanned + 1
        if not filter or filter(list[i]) then items[#items + 1] = project(list[i], req) end
    end
    local last = start + PAGE < #list and { i = { N = tostring(start + PAGE) } } or nil
    return { Items = items, Count = #items, ScannedCount = scanned, LastEvaluatedKey = last,
             ConsumedCapacity = { CapacityUnits = 0.5 } }
end

local function call(self, op, req)
    calls[#calls + 1] = { op = op, req = req }
    local t = db[req.TableName] or error("stub: no table " .. tostring(req.TableName))
    local pk, sk = key_names(t)
    if op == "DescribeTable" then
        local keys, defs = { { AttributeName = pk, KeyType = "HASH" } }, { { AttributeName = pk, AttributeType = "S" } }
        if sk then
            keys[2] = { AttributeName = sk, KeyType = "RANGE" }
            defs[2] = { AttributeName = sk, AttributeType = "S" }
        end
        return { Table = { KeySchema = keys, AttributeDefinitions = defs, ItemCount = #t.items } }
    elseif op == "DescribeTimeToLive" then
        return { TimeToLiveDescription = t.ttl and { TimeToLiveStatus = "ENABLED", AttributeName = t.ttl }
                 or { TimeToLiveStatus = "DISABLED" } }
    elseif op == "GetItem" then
        for _, item in ipairs(t.items) do
            local same = true
            for k, v in pairs(req.Key) do same = same and item[k] and item[k].S == v.S end
            if same then return { Item = project(item, req) } end
        end
        return {}
    elseif op == "Query" then
        local list = {}
        for _, item in ipairs(t.items) do
            if matches(req.KeyConditionExpression, req.ExpressionAttributeNames, req.ExpressionAttributeValues, item) then
                list[#list + 1] = item
            end
        end
        if sk then
            table.sort(list, function(x, y)
                if req.ScanIndexForward == false then return x[sk].S > y[sk].S end
                return x[sk].S < y[sk].S
            end)
        end
        return page(list, req)
    elseif op == "Scan" then
        return page(t.items, req, req.FilterExpression and function(item)
            return matches(req.FilterExpression, req.ExpressionAttributeNames, req.ExpressionAttributeValues, item)
        end)
    end
    error("stub: operation " .. op)
end

local stub_client = {
    new = function()
        return T.with_async { endpoint = "http://stub-mapping-examples", region = "us-east-1", max_retries = 1,
                 stats = { requests = 0, retries = 0, throttled = 0 }, call = call }
    end,
    backend_stats = function() return {} end,
}

-- The examples load with the stub client (typed.lua too, freshly, so that it sees the stub).
local saved = {}
for _, name in ipairs({ "dynamo_lua_fdw.aws.client", "dynamo_lua_fdw.mappings.typed", "dynamo_lua_fdw.routing" }) do
    saved[name] = package.loaded[name]
end
package.loaded["dynamo_lua_fdw.aws.client"] = stub_client
package.loaded["dynamo_lua_fdw.mappings.typed"] = nil
package.loaded["dynamo_lua_fdw.routing"] = nil
local function example(name)
    return assert(loadfile("lua/examples/" .. name .. ".lua"))()
end
local orders, ttl, customers = example("orders"), example("ttl"), example("customers")

-- ---------- helpers: a relation as C describes it, a whole scan ----------

local function rel_of(tbl, cols, quals)
    local columns = {}
    for i, c in ipairs(cols) do
        columns[i] = { attnum = i, name = c[1], type = c[2], notnull = false, options = c[3] or {} }
    end
    quals = quals or {}
    return { relname = "t", server = { name = "s", options = {} }, table = { table = tbl }, user = {},
             columns = columns, quals = quals, nquals = #quals, pushdown = true }
end

-- Plans and runs a scan; param_values: C parameter index -> text. Returns rows (arrays) and the state.
local function scan(m, rel, param_values)
    local p = m.plan_scan(rel)
    p.plan = require("cjson").decode(require("dynamo_lua_fdw.json").encode(p.plan)) -- as it travels
    local params = {}
    for i, k in ipairs(p.params or {}) do params[i] = param_values[k] end
    local st = m.begin_scan(p.plan, rel, params)
    local rows, natts = {}, #rel.columns
    while true do
        local values, n = m.fetch(st)
        if n == 0 then break end
        for r = 1, n do
            local row = {}
            for a = 1, natts do row[a] = values[(r - 1) * natts + a] or false end
            rows[#rows + 1] = row
        end
    end
    return rows, st, p
end

-- ---------- orders.lua ----------

local ORDER_COLS = { { "user_id", "text" }, { "order_date", "date" }, { "order_id", "text" },
                     { "total", "numeric" }, { "status", "text" } }
local DATES = { "2023-12-31", "2024-01-01", "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-31", "2024-02-01" }
local USERS = { "u1", "u2", "a'b#c" }
db.app = { pk = "pk", sk = "sk", items = {} }
local n_orders = 0
for ui, u in ipairs(USERS) do
    for di, d in ipairs(DATES) do
        if (ui + di) % 3 ~= 0 then
            for k = 1, (di % 2) + 1 do
                n_orders = n_orders + 1
                db.app.items[#db.app.items + 1] = { pk = { S = "USER#" .. u }, sk = { S = "ORDER#" .. d .. "#o" .. n_orders },
                    total = { N = tostring(n_orders) }, status = { S = "new" } }
            end
        end
    end
    -- items of other kinds under the same partition keys
    for _, s in ipairs({ "PROFILE", "ORDER#2024-01-10", "ORDER#someday#x", "ORDER#", "ORDER#~" }) do
        db.app.items[#db.app.items + 1] = { pk = { S = "USER#" .. u }, sk = { S = s } }
    end
end
db.app.items[#db.app.items + 1] = { pk = { S = "PRODUCT#p" }, sk = { S = "ORDER#2024-01-10#p" } }

-- What PostgreSQL would return: every order that satisfies the conditions.
local function expected(conds)
    local out = {}
    for _, item in ipairs(db.app.items) do
        local u = item.pk.S:match("^USER#(.*)$")
        local d, id = item.sk.S:match("^ORDER#(%d%d%d%d%-%d%d%-%d%d)#(.+)$")
        if u and d then
            local keep = true
            for _, c in ipairs(conds) do keep = keep and c(u, d) end
            if keep then out[#out + 1] = id end
        end
    end
    table.sort(out)
    return table.concat(out, ",")
end
local function ids(rows)
    local out = {}
    for _, r in ipairs(rows) do out[#out + 1] = r[3] end
    table.sort(out)
    return table.concat(out, ",")
end

local CMP = {
    ["="] = function(a, b) return a == b end, ["<"] = function(a, b) return a < b end,
    ["<="] = function(a, b) return a <= b end, [">"] = function(a, b) return a > b end,
    [">="] = function(a, b) return a >= b end,
}
local FUNC = { ["="] = "date_eq", ["<"] = "date_lt", ["<="] = "date_le", [">"] = "date_gt", [">="] = "date_ge" }

T.test("orders: no pushed combination loses a matching order, and each is exact where it can be", function()
    local bounds = { "2023-12-30", "2024-01-01", "2024-01-10", "2024-01-31", "2024-02-02" }
    local checked = 0
    local user_forms = { "none", "const", "param", "in" }
    for _, uf in ipairs(user_forms) do
        for _, u in ipairs({ "u1", "a'b#c", "nobody" }) do
            for _, op1 in ipairs({ false, "=", "<", "<=", ">", ">=" }) do
                for _, op2 in ipairs({ false, "<", "<=" }) do
                    for _, d1 in ipairs(bounds) do
                        for _, d2 in ipairs(op2 and bounds or { false }) do
                            for _, as_param in ipairs({ false, true }) do
                                local quals, conds, pv = {}, {}, {}
                                local function add(q, c) q.index = #quals + 1; quals[#quals + 1] = q; conds[#conds + 1] = c end
                                if uf == "const" then
                                    add({ column = "user_id", op = "=", func = "texteq", value = u, deterministic = true },
                                        function(x) return x == u end)
                                elseif uf == "param" then
                                    pv[#pv + 1] = u
                                    add({ column = "user_id", op = "=", func = "texteq", param = #pv, deterministic = true },
                                        function(x) return x == u end)
                                elseif uf == "in" then
                                    add({ column = "user_id", op = "= ANY", func = "texteq", values = { u, "u2" }, deterministic = true },
                                        function(x) return x == u or x == "u2" end)
                                end
                                for _, b in ipairs({ { op1, d1 }, { op2, d2 } }) do
                                    if b[1] then
                                        local q = { column = "order_date", op = b[1], func = FUNC[b[1]] }
                                        if as_param then pv[#pv + 1] = b[2]; q.param = #pv else q.value = b[2] end
                                        add(q, function(_, d) return CMP[b[1]](d, b[2]) end)
                                    end
                                end
                                local rows, st, p = scan(orders, rel_of("app", ORDER_COLS, quals), pv)
                                -- Never less than PostgreSQL keeps (it checks every qual again), and exactly
                                -- that unless a bound had to be left out: a second bound beside an equality,
                                -- or a second parameter bound on one side.
                                local want, got = expected(conds), ids(rows)
                                local returned = {}
                                for id in got:gmatch("[^,]+") do returned[id] = true end
                                for id in want:gmatch("[^,]+") do
                                    if not returned[id] then
                                        error(string.format("quals %s lost %s: got %s, want %s (plan %s)",
                                            T.show(quals), id, got, want, T.show(p.plan)))
                                    end
                                end
                                local exact = not (op2 and (op1 == "=" or (as_param and (op1 == "<" or op1 == "<="))))
                                if exact and got ~= want then
                                    error(string.format("quals %s: got %s, want exactly %s (plan %s)", T.show(quals), got, want, T.show(p.plan)))
                                end
                                checked = checked + 1
                            end
                        end
                    end
                end
            end
        end
    end
    T.ok(checked > 2000, "combinations checked: " .. checked)
end)

T.test("orders: Query with the key condition when user_id is given, Scan otherwise", function()
    calls = {}
    local rel = rel_of("app", ORDER_COLS, {
        { index = 1, column = "user_id", op = "=", func = "texteq", value = "u1", deterministic = true },
        { index = 2, column = "order_date", op = ">=", func = "date_ge", value = "2024-01-10" },
        { index = 3, column = "order_date", op = "<=", func = "date_le", value = "2024-01-31" } })
    local _, st, p = scan(orders, rel, {})
    T.eq(p.plan.op, "Query")
    local q = calls[#calls]
    T.eq(q.op, "Query")
    T.eq(q.req.KeyConditionExpression, "#pk = :pk AND #sk BETWEEN :lo AND :hi")
    T.eq(q.req.ExpressionAttributeValues, { [":pk"] = { S = "USER#u1" }, [":lo"] = { S = "ORDER#2024-01-10" },
                                            [":hi"] = { S = "ORDER#2024-01-31~" } })
    local ex = orders.explain(p.plan, false, st)
    T.eq({ ex[5], ex[6] }, { "DynamoDB Key Condition", "pk = 'USER#u1' AND sk BETWEEN 'ORDER#2024-01-10' AND 'ORDER#2024-01-31~'" })
    calls = {}
    _, _, p = scan(orders, rel_of("app", ORDER_COLS, {}), {})
    T.eq(p.plan.op, "Scan")
    T.eq(calls[#calls].req.FilterExpression, "begins_with(#pk, :pk) AND #sk BETWEEN :lo AND :hi")
end)

T.test("orders: not pushed when the translation would not be exact", function()
    local function plan(q) q.index = 1; return orders.plan_scan(rel_of("app", ORDER_COLS, { q })).plan end
    -- a non-deterministic collation, a non-text comparison, a date compared with a timestamp, non-ISO text
    T.eq(plan({ column = "user_id", op = "=", func = "texteq", value = "u1", deterministic = false }).op, "Scan")
    T.eq(plan({ column = "user_id", op = "~~", func = "textlike", value = "u%" }).op, "Scan")
    T.eq(plan({ column = "order_date", op = "<", func = "date_lt_timestamp", value = "2024-01-01 10:00:00" }).date, nil)
    T.eq(plan({ column = "order_date", op = "=", func = "date_eq", value = "01/02/2024" }).date, nil)
    -- user_id declared as an integer: '042' = 42 in SQL, but 'USER#042' is not 'USER#42'
    local rel = rel_of("app", { { "user_id", "integer" }, { "order_date", "date" }, { "order_id", "text" } },
        { { index = 1, column = "user_id", op = "=", func = "int4eq", value = "42" } })
    T.eq(orders.plan_scan(rel).plan.op, "Scan")
    -- the pushdown switch
    rel = rel_of("app", ORDER_COLS, { { index = 1, column = "user_id", op = "=", func = "texteq", value = "u1" } })
    rel.pushdown = false
    T.eq(orders.plan_scan(rel).plan.op, "Scan")
end)

T.test("orders: the tightest constant bounds; an empty range sends nothing", function()
    local function q(op, v) return { column = "order_date", op = op, func = FUNC[op], value = v } end
    local U = { column = "user_id", op = "=", func = "texteq", value = "u1" }
    local p = orders.plan_scan(rel_of("app", ORDER_COLS, { U, q(">=", "2024-01-01"), q(">", "2024-01-01"),
        q(">=", "2023-01-01"), q("<=", "2024-02-01"), q("<", "2024-03-01") })).plan
    T.eq(p.date, { lo = { v = "2024-01-01", strict = true }, hi = { v = "2024-02-01", strict = false } })
    T.eq(orders.sort_key_condition(nil, p.date.lo, p.date.hi), { lo = "ORDER#2024-01-01~", hi = "ORDER#2024-02-01~" })
    calls = {}
    local rows = scan(orders, rel_of("app", ORDER_COLS, { U, q(">", "2024-02-01"), q("<", "2024-01-01") }), {})
    T.eq(#rows, 0)
    T.eq(#calls, 0, "requests for an empty range")
end)

T.test("orders: INSERT, UPDATE and DELETE build the keys", function()
    writes.discard()
    local st = orders.begin_modify(rel_of("app", ORDER_COLS))
    T.eq(orders.insert(st, 1, { "u9", "2024-03-01", "o9", "12.50", "new" }), { "u9", "2024-03-01", "o9", "12.50", "new" })
    local buf = require("dynamo_lua_fdw.capi").persistent().writes
    T.eq(buf[1].put, { pk = { S = "USER#u9" }, sk = { S = "ORDER#2024-03-01#o9" }, total = { N = "12.50" }, status = { S = "new" } })
    T.eq(buf[1].key, '{"pk":{"S":"USER#u9"},"sk":{"S":"ORDER#2024-03-01#o9"}}')
    orders.update(st, 1, { "u9", "2024-03-01", "o9", "12.50", "new" }, { "u9", "2024-03-01", "o9", "12.50", "paid" })
    T.eq(buf[2].request.op, "UpdateItem")
    T.eq(buf[2].request.params.UpdateExpression, "SET #a2 = :v2")
    T.eq(buf[2].request.params.Key, { pk = { S = "USER#u9" }, sk = { S = "ORDER#2024-03-01#o9" } })
    orders.update(st, 1, { "u9", "2024-03-01", "o9", "1", "new" }, { "u9", "2024-03-02", "o9", "1", "new" })
    T.eq(buf[3].delete, { pk = { S = "USER#u9" }, sk = { S = "ORDER#2024-03-01#o9" } })
    T.eq(buf[4].put.sk, { S = "ORDER#2024-03-02#o9" })
    orders.delete(st, 1, { "u9", "2024-03-02", "o9", "1", "new" })
    T.eq(buf[5].delete.sk, { S = "ORDER#2024-03-02#o9" })
    -- INSERT ... ON CONFLICT DO NOTHING: a PutItem that never replaces an item
    local rel = rel_of("app", ORDER_COLS)
    rel.on_conflict = "nothing"
    local st2 = orders.begin_modify(rel)
    orders.insert(st2, 1, { "u9", "2024-03-01", "o9", "1", "new" })
    T.eq(buf[6].request.op, "PutItem")
    T.eq(buf[6].request.params.ConditionExpression, "attribute_not_exists(#k)")
    T.raises(function() orders.insert(st, 1, { "u9", false, "o9" }) end, "23502", "order_date")
    T.raises(function() orders.insert(st, 1, { "u9", "10000-01-01", "o9" }) end, "22008")
    writes.discard()
end)

-- ---------- ttl.lua ----------

local NOW = require("dynamo_lua_fdw.capi").now()
db.sessions = { pk = "id", ttl = "expires", items = {
    { id = { S = "live" }, expires = { N = tostring(NOW + 60) } },
    { id = { S = "expired" }, expires = { N = tostring(NOW - 1) } },
    { id = { S = "old" }, expires = { N = "1000" } },
    { id = { S = "none" } },
    { id = { S = "text" }, expires = { S = "1000" } },   -- not a number: DynamoDB never expires it
    { id = { S = "e1" }, expires = { N = "1" } }, { id = { S = "e2" }, expires = { N = "2" } },
    { id = { S = "e3" }, expires = { N = "3" } },        -- a whole page of expired items
    { id = { S = "fraction" }, expires = { N = tostring(NOW - 1) .. ".5" } },
} }
db.nottl = { pk = "id", items = { { id = { S = "x" }, expires = { N = "1" } } } }

T.test("ttl: expired items are hidden, the others keep every column", function()
    calls = {}
    local rel = rel_of("sessions", { { "id", "text" }, { "expires", "jsonb" } })
    local rows, st, p = scan(ttl, rel, {})
    local got = {}
    for _, r in ipairs(rows) do got[#got + 1] = r[1] .. "=" .. tostring(r[2]) end
    table.sort(got)
    T.eq(got, { "live=" .. (NOW + 60), "none=false", 'text="1000"' })
    T.eq(st.example_ttl.hidden, 6)
    local ex = ttl.explain(p.plan, false, st)
    T.eq({ ex[#ex - 3], ex[#ex - 2], ex[#ex - 1], ex[#ex] },
        { "DynamoDB TTL Attribute", "expires", "Expired Items Hidden", "6" })
    -- without a column for the attribute
    rows = scan(ttl, rel_of("sessions", { { "id", "text" } }), {})
    T.eq(#rows, 3)
    T.eq(#rows[1], 1, "no extra value in the rows")
    -- a query that reads only id: typed sends a ProjectionExpression, which must name the TTL attribute
    rel = rel_of("sessions", { { "id", "text" }, { "username", "text" } })
    rel.needed = { 1 }
    rows = scan(ttl, rel, {})
    T.eq(#rows, 3)
    local names = {}
    for _, n in pairs(calls[#calls].req.ExpressionAttributeNames or {}) do names[#names + 1] = n end
    table.sort(names)
    T.eq(names, { "expires", "id" }, "the projection asks for the TTL attribute")
    -- DescribeTimeToLive once: the answer is cached in capi.persistent()
    local n = 0
    for _, c in ipairs(calls) do if c.op == "DescribeTimeToLive" then n = n + 1 end end
    T.eq(n, 1)
end)

T.test("ttl: with Time to Live off nothing is hidden", function()
    local rows, st, p = scan(ttl, rel_of("nottl", { { "id", "text" } }), {})
    T.eq(#rows, 1)
    local ex = ttl.explain(p.plan, false, st)
    T.eq(ex[#ex], "none (Time to Live is off)")
end)

-- ---------- customers.lua ----------

db.customers = { pk = "CustomerID", items = {
    { CustomerID = { S = "c1" }, GivenName = { S = "Ada" }, FamilyName = { S = "Lovelace" } },
    { CustomerID = { S = "c2" }, FamilyName = { S = "Turing" } },
} }
local CUSTOMER_COLS = { { "id", "text" }, { "first_name", "text" }, { "last_name", "text" }, { "full_name", "text" },
                        { "email", "text", { attribute = "mail" } } }

T.test("customers: renamed attributes and the computed column", function()
    calls = {}
    local rows = scan(customers, rel_of("customers", CUSTOMER_COLS,
        { { index = 1, column = "id", op = "=", func = "texteq", value = "c1", deterministic = true } }), {})
    T.eq(rows, { { "c1", "Ada", "Lovelace", "Ada Lovelace", false } })
    T.eq({ calls[#calls].op, calls[#calls].req.Key }, { "GetItem", { CustomerID = { S = "c1" } } },
        "the renamed key is pushed down (the whole key: GetItem)")
    rows = scan(customers, rel_of("customers", CUSTOMER_COLS), {})
    table.sort(rows, function(a, b) return a[1] < b[1] end)
    T.eq(rows[2], { "c2", false, "Turing", "Turing", false })
    -- a query that reads only full_name: the projection asks for what it is computed from
    local rel = rel_of("customers", CUSTOMER_COLS)
    rel.needed = { 4 }
    calls = {}
    rows = scan(customers, rel, {})
    table.sort(rows, function(a, b) return tostring(a[4]) < tostring(b[4]) end)
    T.eq({ rows[1][4], rows[2][4] }, { "Ada Lovelace", "Turing" })
    local names = {}
    for _, n in pairs(calls[#calls].req.ExpressionAttributeNames or {}) do names[#names + 1] = n end
    table.sort(names)
    T.eq(names, { "CustomerID", "FamilyName", "GivenName" })
end)

T.test("max_scan_capacity: a Scan stops once it has consumed more than allowed (54000)", function()
    local typed = require "dynamo_lua_fdw.mappings.typed"
    local rel = rel_of("customers", CUSTOMER_COLS)
    rel.table.max_scan_capacity = "1"
    -- 7 items, 3 a page, 0.5 read capacity units a page: the third page passes 1
    db.customers.items[3] = { CustomerID = { S = "c3" } }
    db.customers.items[4] = { CustomerID = { S = "c4" } }
    db.customers.items[5] = { CustomerID = { S = "c5" } }
    db.customers.items[6] = { CustomerID = { S = "c6" } }
    db.customers.items[7] = { CustomerID = { S = "c7" } }
    local ok, err = pcall(scan, typed, rel, {})
    for i = 7, 3, -1 do db.customers.items[i] = nil end
    T.eq(ok, false)
    T.eq(err.sqlstate, "54000")
    T.ok(err.message:find("stopped after 1.5 read capacity units", 1, true), err.message)
    rel.table.max_scan_capacity = "2"
    T.eq(#scan(typed, rel, {}), 2, "under the limit the scan runs")
end)

T.test("customers: writes use the attribute names; the computed column is read-only", function()
    writes.discard()
    local st = customers.begin_modify(rel_of("customers", CUSTOMER_COLS))
    T.eq(customers.insert(st, 1, { "c3", "Grace", "Hopper", nil, "g@x" }), { "c3", "Grace", "Hopper", "Grace Hopper", "g@x" })
    local buf = require("dynamo_lua_fdw.capi").persistent().writes
    T.eq(buf[1].put, { CustomerID = { S = "c3" }, GivenName = { S = "Grace" }, FamilyName = { S = "Hopper" }, mail = { S = "g@x" } })
    T.raises(function() customers.insert(st, 1, { "c4", nil, nil, "x" }) end, "428C9", "full_name")
    T.raises(function() customers.update(st, 1, { "c3", "Grace", "Hopper", "Grace Hopper" }, { "c3", "Grace", "Hopper", "x" }) end, "428C9")
    T.eq(customers.update(st, 1, { "c3", "Grace", "Hopper", "Grace Hopper" }, { "c3", "Grace", "Brewster Hopper", "Grace Hopper" }),
        { "c3", "Grace", "Brewster Hopper", "Grace Brewster Hopper" })
    T.eq(buf[2].request.params.ExpressionAttributeNames, { ["#a3"] = "FamilyName" })
    writes.discard()
end)

for name, m in pairs(saved) do package.loaded[name] = m end
