-- Key conditions: which quals DynamoDB can answer, and only those.
local T = require "testlib"
local planner = require "dynamo_lua_fdw.planner"

local schema = { partition_key = { name = "PK", type = "S" }, sort_key = { name = "SK", type = "N" } }
local by = { PK = { name = "pk", type = "text" }, SK = { name = "sk", type = "numeric" } }
local NULL = {}

local function plan(quals)
    local params = {}
    return planner.key_conditions({ quals = quals }, schema, by, params, NULL), params
end
local PK = { column = "pk", op = "=", func = "texteq", value = "u1", collation = "default", deterministic = true }

T.test("partition key equality is needed for any key condition", function()
    T.eq(plan({ { column = "sk", op = "=", func = "numeric_eq", value = "1" } }), nil)
    T.eq(plan({ PK }).pk, { v = "u1" })
end)

T.test("a non-deterministic collation or a NULL constant routes nothing", function()
    T.eq(plan({ { column = "pk", op = "=", func = "texteq", value = "u1", deterministic = false } }), nil)
    T.eq(plan({ { column = "pk", op = "=", func = "texteq", value = NULL } }), nil)
end)

T.test("sort key ranges: two bounds become BETWEEN, one stays as it is", function()
    local k = plan({ PK, { column = "sk", op = ">", func = "numeric_gt", value = "1" },
                         { column = "sk", op = "<=", func = "numeric_le", value = "9" } })
    T.eq(k.sk, { lo = { v = "1" }, lo_op = ">", hi = { v = "9" }, hi_op = "<=" })
    T.eq(planner.key_expression(schema, k.sk, { pk = 1, lo = 2, hi = 3 }), "#pk = :pk AND #sk BETWEEN :lo AND :hi")
    k = plan({ PK, { column = "sk", op = "<", func = "int4lt", param = 3 } })
    T.eq(k.sk, { hi = { p = 1 }, hi_op = "<" })
end)

T.test("floats and unknown functions are not used", function()
    T.eq(plan({ PK, { column = "sk", op = ">", func = "float8gt", value = "1" } }).sk, nil)
end)

T.test("text sort key ranges need the C collation; LIKE 'abc%' becomes begins_with", function()
    local s2 = { partition_key = schema.partition_key, sort_key = { name = "SK", type = "S" } }
    local by2 = { PK = by.PK, SK = { name = "sk", type = "text" } }
    local function p(q) return planner.key_conditions({ quals = { PK, q } }, s2, by2, {}, NULL) end
    T.eq(p({ column = "sk", op = ">", func = "text_gt", value = "a", collation = "default" }).sk, nil)
    T.eq(p({ column = "sk", op = ">", func = "text_gt", value = "a", collation = "C" }).sk, { lo = { v = "a" }, lo_op = ">" })
    T.eq(p({ column = "sk", op = "~~", func = "textlike", value = "ORDER#2024%" }).sk, { prefix = "ORDER#2024" })
    T.eq(p({ column = "sk", op = "~~", func = "textlike", value = "a_b%" }).sk, nil)
    T.eq(planner.key_expression(s2, { prefix = "x" }, { pk = 1, prefix = 2 }), "#pk = :pk AND begins_with(#sk, :prefix)")
end)

T.test("like_prefix honours escapes and refuses other wildcards", function()
    T.eq(planner.like_prefix("ab\\%c%"), "ab%c")
    T.eq(planner.like_prefix("ab\\_%"), "ab_")
    T.eq(planner.like_prefix("%"), nil)
    T.eq(planner.like_prefix("a%b%"), nil)
    T.eq(planner.like_prefix("abc"), nil)
    T.eq(planner.like_prefix("ab\\"), nil)
end)

T.test("IN lists on the partition key", function()
    local k = plan({ { column = "pk", op = "= ANY", func = "texteq", values = { "a", "b" }, deterministic = true } })
    T.eq(k.pk, { vs = { "a", "b" } })
end)

T.test("parameters are numbered once each, in order of use", function()
    local k, params = plan({ { column = "pk", op = "=", func = "texteq", param = 5, deterministic = true },
                             { column = "sk", op = ">=", func = "numeric_ge", param = 2 } })
    T.eq(params, { 5, 2 })
    T.eq(k.pk, { p = 1 }); T.eq(k.sk.lo, { p = 2 })
end)

T.test("exact comparison of numbers, strings and binaries", function()
    local c = planner.compare_decimal
    T.eq(c("1.50", "1.5"), 0); T.eq(c("10", "9.99"), 1); T.eq(c("-1E-130", "0"), -1)
    T.eq(c("1e2", "100.0"), 0); T.eq(c("-5", "-50"), 1); T.eq(c("0.001", "1E-3"), 0)
    T.eq(c("12345678901234567890123456789012345678", "12345678901234567890123456789012345679"), -1)
    T.eq(planner.compare({ S = "b" }, { S = "a" }), 1)
    T.eq(planner.compare({ B = "AP8=" }, { B = "AQ==" }, require("dynamo_lua_fdw.capi").base64_decode), -1)
end)

T.test("canonical key texts: equal numbers are one key", function()
    T.eq(planner.canonical({ N = "1" }), planner.canonical({ N = "1.0" }))
    T.eq(planner.canonical({ N = "1" }), planner.canonical({ N = "1E0" }))
    T.eq(planner.canonical({ N = "-0.50" }), planner.canonical({ N = "-5e-1" }))
    T.ok(planner.canonical({ N = "1" }) ~= planner.canonical({ N = "10" }))
    T.ok(planner.canonical({ N = "1" }) ~= planner.canonical({ S = "1" }))
end)
