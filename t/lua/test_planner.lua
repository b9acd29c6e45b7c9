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

-- ---------- exactness and filters ----------

local function with_index(quals)
    for i, q in ipairs(quals) do q.index = i end
    return quals
end

T.test("exact key quals: constants, but not a strict bound beside another (BETWEEN) nor parameters", function()
    local k = plan(with_index({ { column = "pk", op = "=", func = "texteq", value = "u1", deterministic = true },
        { column = "sk", op = ">", func = "numeric_gt", value = "1" }, { column = "sk", op = "<", func = "numeric_lt", value = "9" } }))
    T.eq(k.exact, { 1 })
    k = plan(with_index({ { column = "pk", op = "=", func = "texteq", value = "u1", deterministic = true },
        { column = "sk", op = ">=", func = "numeric_ge", value = "1" }, { column = "sk", op = "<", func = "numeric_lt", value = "5" } }))
    T.eq(k.exact, { 1, 2 })
    k = plan(with_index({ { column = "pk", op = "=", func = "texteq", value = "u1", deterministic = true },
        { column = "sk", op = "<=", func = "numeric_le", param = 2 } }))
    T.eq(k.exact, { 1 })
end)

T.test("a constant bound DynamoDB cannot hold is not used: it would select nothing", function()
    local quals = with_index({ { column = "pk", op = "=", func = "texteq", value = "u1", deterministic = true },
        { column = "sk", op = "<", func = "numeric_lt", value = "1E+200" } })
    local k = planner.key_conditions({ quals = quals }, schema, by, {}, NULL, function(_, v) return v ~= "1E+200" end)
    T.eq(k.sk, nil)
    T.eq(k.exact, { 1 })
end)

local cols = { a = { name = "a", type = "text" }, n = { name = "n", type = "numeric" }, f = { name = "f", type = "double precision" },
               ok = { name = "ok", type = "boolean" }, j = { name = "j", type = "jsonb" } }
local function terms(quals, skip)
    return planner.filter_terms({ quals = with_index(quals) }, { skip = skip or {}, params = {}, null = NULL,
        encode = function(_, v) return v ~= "" and v ~= "NaN" and { S = v } or nil end,
        column = function(name) return cols[name], "attr_" .. name end })
end

T.test("filters: exact comparisons per type and collation; the rest stays in PostgreSQL", function()
    local t = terms({
        { column = "a", op = "=", func = "texteq", value = "x", collation = "default", deterministic = true },
        { column = "a", op = "<", func = "text_lt", value = "x", collation = "default" },   -- not byte order
        { column = "a", op = "<", func = "text_lt", value = "x", collation = "C" },
        { column = "f", op = ">", func = "float8gt", value = "1" },                          -- float
        { column = "n", op = "<>", func = "numeric_ne", value = "NaN" },                    -- not storable
        { column = "a", op = "=", func = "texteq", value = "", deterministic = true },      -- empty
        { column = "a", op = "=", func = "texteq", value = "x", deterministic = false },    -- case-insensitive
        { column = "j", op = "IS NULL" },                                                   -- jsonb: 'null' is no NULL
        { column = "ok", op = "=", func = "booleq", value = "true" },
        { column = "n", op = "IS NOT NULL" },
        { column = "a", op = "~~", func = "textlike", value = "ab\\%c%" },
        { column = "a", op = "~~", func = "textlike", value = "a_c%" },
        { column = "n", op = "= ANY", func = "numeric_eq", values = { "1", NULL, "2" } },
    })
    local idx = {}
    for i, x in ipairs(t) do idx[i] = x.index .. ":" .. x.op end
    T.eq(idx, { "1:=", "3:<", "9:=", "10:IS NOT NULL", "11:begins_with", "13:IN" })
    T.eq(t[5].src, { v = "ab%c" })
    T.eq(t[6].src, { vs = { "1", "2" } })
    T.eq(planner.filter_text(t), "#f1 = :f1 AND #f2 < :f2 AND #f3 = :f3 AND (attribute_exists(#f4) AND NOT "
        .. "attribute_type(#f4, :null)) AND begins_with(#f5, :f5) AND #f6 IN (:f6_1, :f6_2)")
end)

T.test("filters: a Query's key attributes and answered quals are skipped; parameters are not exact", function()
    local t = terms({ { column = "a", op = "=", func = "texteq", value = "x", deterministic = true },
                      { column = "n", op = ">", func = "numeric_gt", param = 7, label = "$1" } }, { attr_a = true })
    T.eq(#t, 1)
    T.eq(t[1].exact, nil)
    T.eq(t[1].src, { p = 1, label = "$1" })
end)

T.test("filter expression: names and values by placeholder; <> needs the type; NULL parameter matches nothing", function()
    local t = terms({ { column = "a", op = "<>", func = "textne", value = "x", deterministic = true },
                      { column = "n", op = "IS NULL" } })
    local function values_of(src) return src.v and { src.v } or {} end
    local expr, names, values = planner.filter_expression(t, values_of, function(_, text) return { S = text } end)
    T.eq(expr, "(#f1 <> :f1 AND attribute_type(#f1, :t1)) AND (attribute_not_exists(#f2) OR attribute_type(#f2, :null))")
    T.eq(names, { ["#f1"] = "attr_a", ["#f2"] = "attr_n" })
    T.eq(values, { [":f1"] = { S = "x" }, [":t1"] = { S = "S" }, [":null"] = { S = "NULL" } })
    local p = terms({ { column = "n", op = ">", func = "numeric_gt", param = 1 } })
    T.eq(planner.filter_expression(p, values_of, function() return { N = "1" } end), false)
    -- a run-time value DynamoDB cannot hold: the term is left out (PostgreSQL checks it)
    T.eq(planner.filter_expression(p, function() return { "1E+200" } end, function() return nil end), nil)
end)

T.test("filters stop before DynamoDB's 4 KB expression limit", function()
    local quals = {}
    for i = 1, 200 do quals[i] = { column = "a", op = "=", func = "texteq", value = "v" .. i, deterministic = true } end
    local t = terms(quals)
    T.ok(#t > 10 and #t < 200, #t .. " terms")
    T.ok(#planner.filter_text(t) <= planner.MAX_EXPRESSION)
end)

T.test("filters: an OR of conditions is one term, exact when every arm is; one unusable arm keeps it local", function()
    local a_eq = { column = "a", op = "=", func = "texteq", value = "x", deterministic = true }
    local n_null = { column = "n", op = "IS NULL" }
    local t = terms({ { op = "OR", args = { a_eq, { op = "AND", args = { n_null, { column = "ok", op = "=", func = "booleq", value = "true" } } } } } })
    T.eq(#t, 1)
    T.eq(t[1].exact, true)
    T.eq(planner.filter_text(t), "(#f1x1 = :f1x1 OR ((attribute_not_exists(#f1x2x1) OR attribute_type(#f1x2x1, :null)) AND #f1x2x2 = :f1x2x2))")
    T.eq(planner.filter_words(t), "(a = 'x' OR (n IS NULL AND ok = 'true'))")
    local expr, names, values = planner.filter_expression(t, function(src) return src.v and { src.v } or {} end,
        function(_, text) return { S = text } end)
    T.eq(names, { ["#f1x1"] = "attr_a", ["#f1x2x1"] = "attr_n", ["#f1x2x2"] = "attr_ok" })
    T.eq(values, { [":f1x1"] = { S = "x" }, [":f1x2x2"] = { S = "true" }, [":null"] = { S = "NULL" } })
    T.ok(expr:find("OR", 1, true))
    -- a float arm, or a parameter, keeps the whole OR in PostgreSQL
    T.eq(#terms({ { op = "OR", args = { a_eq, { column = "f", op = ">", func = "float8gt", value = "1" } } } }), 0)
    T.eq(#terms({ { op = "OR", args = { a_eq, { column = "n", op = ">", func = "numeric_gt", param = 1 } } } }), 0)
    -- an arm on a Query's key attribute too
    T.eq(#terms({ { op = "OR", args = { a_eq, n_null } } }, { attr_n = true }), 0)
end)

T.test("filters: text equality on a json path finds every value whose JSON text it can be (a superset)", function()
    local types = require "dynamo_lua_fdw.types"
    cols.doc = { name = "doc", type = "jsonb" }
    local function path_terms(q, skip)
        return planner.filter_terms({ quals = with_index({ q }) }, { skip = skip or {}, params = {}, null = NULL,
            candidates = types.text_candidates,
            column = function(name) return cols[name], name == "doc" and "Doc" or "attr_" .. name end })
    end
    local t = path_terms({ column = "doc", path = { "a", "b" }, op = "=", func = "texteq", value = "1.5", deterministic = true })
    T.eq(#t, 1)
    T.eq(t[1].exact, nil, "never exact: 1.50 is found too, PostgreSQL checks")
    T.eq(t[1].avs, { { S = "1.5" }, { N = "1.5" } })
    T.eq(planner.filter_text(t), "(#f1p1.#f1p2.#f1p3 = :f1c1 OR #f1p1.#f1p2.#f1p3 = :f1c2)")
    local _, names = planner.filter_expression(t, function() return {} end, function() return nil end)
    T.eq(names, { ["#f1p1"] = "Doc", ["#f1p2"] = "a", ["#f1p3"] = "b" })
    T.eq(types.text_candidates("true"), { { S = "true" }, { BOOL = true }, { B = "true" } })
    T.eq(types.text_candidates(""), {})
    -- text that only a map or list reads as, other operators, and a Query's key attribute: PostgreSQL's
    T.eq(#path_terms({ column = "doc", path = { "a" }, op = "=", func = "texteq", value = '{"x":1}', deterministic = true }), 0)
    T.eq(#path_terms({ column = "doc", path = { "a" }, op = "<", func = "text_lt", value = "x", collation = "C" }), 0)
    T.eq(#path_terms({ column = "doc", path = { "a" }, op = "=", func = "texteq", value = "x", deterministic = true },
        { Doc = true }), 0)
end)

T.test("json paths: an array index ('0' under #>>) or an empty string in an IN list keeps the qual local", function()
    local types = require "dynamo_lua_fdw.types"
    local function path_terms(q)
        return planner.filter_terms({ quals = with_index({ q }) }, { skip = {}, params = {}, null = NULL,
            candidates = types.text_candidates, column = function() return { type = "jsonb" }, "Doc" end })
    end
    T.eq(#path_terms({ column = "doc", path = { "tags", "0" }, op = "=", func = "texteq", value = "red", deterministic = true }), 0)
    T.eq(#path_terms({ column = "doc", path = { "n" }, op = "= ANY", func = "texteq", values = { "", "bob" }, deterministic = true }), 0)
    T.eq(#path_terms({ column = "doc", path = { "n" }, op = "= ANY", func = "texteq", values = { "al", "bob" }, deterministic = true }), 1)
end)
