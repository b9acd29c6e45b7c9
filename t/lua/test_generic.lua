-- The generic mapping's planning and paging, with a stub DynamoDB client.
local T = require "testlib"
local capi = require "dynamo_lua_fdw.capi"

-- A stub client: answers DescribeTable and replays the pages given per operation.
local calls, pages = {}, {}
package.loaded["dynamo_lua_fdw.aws.client"] = {
    new = function(opts)
        return T.with_async {
            endpoint = "http://stub", region = opts.region, max_retries = 3,
            stats = { requests = 0, retries = 0, throttled = 0 },
            call = function(self, op, params)
                calls[#calls + 1] = { op = op, params = { ExclusiveStartKey = params.ExclusiveStartKey } }
                if op == "DescribeTable" then
                    return { Table = { KeySchema = { { AttributeName = "pk", KeyType = "HASH" } },
                        AttributeDefinitions = { { AttributeName = "pk", AttributeType = "S" } } } }
                end
                return table.remove(pages, 1)
            end,
        }
    end,
    backend_stats = function() return {} end,
}
package.loaded["dynamo_lua_fdw.routing"] = nil -- so that it sees the stub
local generic = require "dynamo_lua_fdw.mappings.generic"

local function rel(quals)
    return {
        relname = "dynamodb", server = { options = {} }, table = {}, user = {},
        columns = { { attnum = 1, name = "oid" }, { attnum = 2, name = "region" }, { attnum = 3, name = "table_name" },
                    { attnum = 4, name = "partition_key" }, { attnum = 5, name = "sort_key" }, { attnum = 6, name = "document" } },
        quals = quals, nquals = #quals, pushdown = true,
    }
end
local REGION = { index = 1, column = "region", op = "=", func = "texteq", value = "us-east-1" }
local TABLE = { index = 2, column = "table_name", op = "=", func = "texteq", value = "t" }

local function item(k) return { pk = { S = k }, v = { N = "1" } } end

T.test("region and table_name are required, with a hint", function()
    T.raises(function() generic.plan_scan(rel({ REGION })) end, "HV000", "must filter on region and table_name", "WHERE region")
    T.raises(function() generic.plan_scan(rel({})) end, "HV000")
end)

T.test("partition_key picks Query, both keys GetItem, otherwise Scan", function()
    T.eq(generic.plan_scan(rel({ REGION, TABLE })).plan.op, "Scan")
    local pk = { index = 3, column = "partition_key", op = "=", func = "texteq", value = "a" }
    local sk = { index = 4, column = "sort_key", op = "=", func = "texteq", value = "b" }
    T.eq(generic.plan_scan(rel({ REGION, TABLE, pk })).plan.op, "Query")
    T.eq(generic.plan_scan(rel({ REGION, TABLE, pk, sk })).plan.op, "GetItem")
    -- an operator that is not text equality is not used for routing
    local like = { index = 3, column = "partition_key", op = "~~", func = "textlike", value = "a%" }
    T.eq(generic.plan_scan(rel({ REGION, TABLE, like })).plan.op, "Scan")
end)

T.test("with pushdown off, region and table_name still route but the keys are not used", function()
    local pk = { index = 3, column = "partition_key", op = "=", func = "texteq", value = "a" }
    local r = rel({ REGION, TABLE, pk })
    r.pushdown = false
    local p = generic.plan_scan(r)
    T.eq(p.plan.op, "Scan")
    T.eq(p.plan.table_name, { v = "t" })
end)

T.test("parameters are numbered in the order the plan uses them", function()
    local p = generic.plan_scan(rel({ REGION, { index = 2, column = "table_name", op = "=", func = "texteq", param = 7 } }))
    T.eq(p.params, { 7 })
    T.eq(p.plan.table_name, { p = 1 })
end)

T.test("empty pages with LastEvaluatedKey continue; every row exactly once; one WARNING", function()
    calls, pages = {}, {
        { Items = { item("a") }, Count = 1, ScannedCount = 1, LastEvaluatedKey = { pk = { S = "a" } } },
        { Items = {}, Count = 0, ScannedCount = 0, LastEvaluatedKey = { pk = { S = "a" } } },
        { Items = {}, Count = 0, ScannedCount = 5, LastEvaluatedKey = { pk = { S = "b" } } },
        { Items = { item("c"), item("d") }, Count = 2, ScannedCount = 2 },
    }
    capi.logged = {}
    local p = generic.plan_scan(rel({ REGION, TABLE }))
    local st = generic.begin_scan(p.plan, rel({ REGION, TABLE }), {})
    local seen = {}
    while true do
        local values, n = generic.fetch(st)
        if n == 0 then break end
        for r = 0, n - 1 do seen[#seen + 1] = values[r * 6 + 4] end
    end
    T.eq(seen, { "a", "c", "d" })
    T.eq(calls[3].params.ExclusiveStartKey, { pk = { S = "a" } }, "the key of the empty page is passed on")
    T.eq(calls[5].params.ExclusiveStartKey, { pk = { S = "b" } })
    generic.end_scan(st)
    T.eq(#capi.logged, 2)
    T.eq(capi.logged[1].level, "WARNING")
    T.eq(capi.logged[2].message,
        "DynamoDB FDW retrieved 4 pages containing 3 records; DynamoDB scanned 8 records server-side")
end)

T.test("fetch returns one page at a time (lazy paging)", function()
    calls, pages = {}, {
        { Items = { item("a") }, Count = 1, ScannedCount = 1, LastEvaluatedKey = { pk = { S = "a" } } },
        { Items = { item("b") }, Count = 1, ScannedCount = 1 },
    }
    local p = generic.plan_scan(rel({ REGION, TABLE }))
    local st = generic.begin_scan(p.plan, rel({ REGION, TABLE }), {})
    local _, n = generic.fetch(st)
    T.eq(n, 1)
    T.eq(#pages, 1, "the second page is not fetched before it is needed")
end)

T.test("a key that cannot be typed matches nothing, without a request", function()
    calls, pages = {}, {}
    package.loaded["dynamo_lua_fdw.capi"].persistent().catalog = nil
    local pk = { index = 3, column = "partition_key", op = "=", func = "texteq", value = "" }
    local r = rel({ REGION, TABLE, pk })
    local st = generic.begin_scan(generic.plan_scan(r).plan, r, {})
    local _, n = generic.fetch(st)
    T.eq(n, 0)
    T.eq(#calls, 1, "only DescribeTable")
end)

T.test("only the columns the query reads are built", function()
    calls, pages = {}, { { Items = { item("a") }, Count = 1, ScannedCount = 1 } }
    local r = rel({ REGION, TABLE })
    r.needed = { 2, 3 } -- region and table_name, as for count(*) with the routing quals
    local st = generic.begin_scan(generic.plan_scan(r).plan, r, {})
    local values, n = generic.fetch(st)
    T.eq(n, 1)
    T.eq(values[2], "us-east-1")
    T.eq(values[1], nil, "no oid")
    T.eq(values[6], nil, "no document")
    r.needed, r.needed_all = nil, true
    pages = { { Items = { item("a") }, Count = 1, ScannedCount = 1 } }
    st = generic.begin_scan(generic.plan_scan(r).plan, r, {})
    values = generic.fetch(st)
    T.ok(values[6] ~= nil and values[1] ~= nil, "whole rows when needed")
end)

T.test("a table or key listed twice is read once (no row twice)", function()
    calls, pages = {}, {}
    local pk = { index = 3, column = "partition_key", op = "= ANY", func = "texteq", values = { "a", "a" } }
    local tbl = { index = 2, column = "table_name", op = "= ANY", func = "texteq", values = { "t", "t" } }
    local r = rel({ REGION, tbl, pk })
    pages = { { Items = { item("a") }, Count = 1, ScannedCount = 1 } }
    local st = generic.begin_scan(generic.plan_scan(r).plan, r, {})
    local _, n = generic.fetch(st)
    T.eq(n, 1)
    local _, n2 = generic.fetch(st)
    T.eq(n2, 0)
    local queries = 0
    for _, c in ipairs(calls) do if c.op == "Query" then queries = queries + 1 end end
    T.eq(queries, 1)
end)
