-- Which conditions DynamoDB can answer for a table's key, decided from plain
-- descriptions of PostgreSQL's quals.  Pure: no requests, no PostgreSQL.
--
-- A condition is used only where DynamoDB's comparison is PostgreSQL's for
-- that type: S keys compare UTF-8 bytes, so text equality needs a
-- deterministic collation and text ranges the C (or POSIX) collation; N keys
-- compare numbers (numeric and integer columns, never floats); B keys compare
-- unsigned bytes (bytea).  PostgreSQL still checks every qual, so a key
-- condition may select more than the quals (BETWEEN for two strict bounds)
-- but never less.
local M = {}

-- PostgreSQL's comparison functions per key type and operator suffix (texteq but text_lt, ...).
local FUNCS = { S = {}, N = {}, B = {}, BOOL = { booleq = "eq", boolne = "ne" } }
for _, suffix in ipairs({ "eq", "ne", "lt", "le", "gt", "ge" }) do
    FUNCS.S[((suffix == "eq" or suffix == "ne") and "text" or "text_") .. suffix] = suffix
    FUNCS.B["bytea" .. suffix] = suffix
    FUNCS.N["numeric_" .. suffix] = suffix
    for _, ints in ipairs({ "int2", "int4", "int8", "int24", "int42", "int28", "int82", "int48", "int84" }) do
        FUNCS.N[ints .. suffix] = suffix
    end
end
local COLUMN_TYPES = {
    S = { text = true, ["character varying"] = true },
    N = { numeric = true, integer = true, bigint = true, smallint = true },
    B = { bytea = true },
}
local OPS = { ["="] = "eq", ["<"] = "lt", ["<="] = "le", [">"] = "gt", [">="] = "ge" }
local FILTER_OPS = { ["="] = "eq", ["<>"] = "ne", ["<"] = "lt", ["<="] = "le", [">"] = "gt", [">="] = "ge" }

-- True when q's function is PostgreSQL's comparison op for a key of type keytype.
local function comparison(q, keytype)
    local suffix = FILTER_OPS[q.op] or (q.op == "= ANY" and "eq")
    return suffix ~= nil and FUNCS[keytype][q.func] == suffix
end

local function byte_order(q)
    return q.collation == nil or q.collation == "C" or q.collation == "POSIX"
end

-- The literal prefix of a LIKE pattern 'abc%' (backslash escapes), or nil when
-- the pattern has any other wildcard.
function M.like_prefix(pattern)
    local out, i, n = {}, 1, #pattern
    while i <= n do
        local c = pattern:sub(i, i)
        if c == "\\" then
            if i == n then return nil end
            out[#out + 1] = pattern:sub(i + 1, i + 1)
            i = i + 2
        elseif c == "%" then
            if i ~= n or #out == 0 then return nil end
            return table.concat(out)
        elseif c == "_" then
            return nil
        else
            out[#out + 1] = c
            i = i + 1
        end
    end
    return nil -- no trailing %: an equality, left to PostgreSQL
end

-- A qual's value source: {v = text} a constant, {vs = {...}} an IN list, {p = n, label = "$1"}
-- the n-th scan parameter (its index in params, which this appends to); nil for a NULL constant.
function M.source(q, params, null)
    if q.param then
        for i, k in ipairs(params) do if k == q.param then return { p = i, label = q.label } end end
        params[#params + 1] = q.param
        return { p = #params, label = q.label }
    end
    if q.values then return { vs = q.values } end
    if q.value ~= nil and q.value ~= null then return { v = q.value } end
end
local source = M.source

-- The texts of a source with the scan's parameter values: a list, NULLs left out.
function M.values_of(src, params, null)
    if src.v then return { src.v } end
    if src.p then return params[src.p] and { params[src.p] } or {} end
    local out = {}
    for _, v in ipairs(src.vs) do if v ~= null then out[#out + 1] = v end end
    return out
end

-- key_conditions(rel, schema, by_attribute, params, null, storable)
--   -> {pk = source, sk = {...}, exact = {qual index...}} or nil.
--   schema: {partition_key = {name=, type=}, sort_key = ... | nil}
--   by_attribute: attribute name -> column description
--   params: list of C parameter indexes used so far (appended to)
--   storable(col, text): false for a constant DynamoDB cannot hold (a number beyond its range);
--   such a range bound bounds nothing DynamoDB can compare, so it is not used.
-- sk = {eq = source} | {lo = source, lo_op = ">"|">=", hi = source, hi_op = "<"|"<="} | {prefix = text}
-- exact lists the quals the key condition answers exactly (PostgreSQL need not check them):
-- those with constants, except a strict bound next to another (DynamoDB only has BETWEEN).
function M.key_conditions(rel, schema, by_attribute, params, null, storable)
    local function usable(col, key)
        return col and COLUMN_TYPES[key.type][col.type]
    end
    local pk_key, sk_key = schema.partition_key, schema.sort_key
    local pk_col = by_attribute[pk_key.name]
    if not usable(pk_col, pk_key) then return nil end
    local result = { exact = {} }
    for _, q in ipairs(rel.quals) do
        if not result.pk and not q.path and q.column == pk_col.name and (q.op == "=" or (q.op == "= ANY" and q.values))
            and comparison(q, pk_key.type) and q.deterministic ~= false and q.value ~= null then
            result.pk = source(q, params)
            result.pk_column = pk_col.name
            if not q.param then result.exact[#result.exact + 1] = q.index end
        end
    end
    if not result.pk then return nil end
    local sk_col = sk_key and by_attribute[sk_key.name]
    if not usable(sk_col, sk_key) then return result end
    local sk, used = {}, {}
    for _, q in ipairs(rel.quals) do
        if not q.path and q.column == sk_col.name and q.value ~= null then
            local ranged = sk_key.type ~= "S" or byte_order(q)
            if q.op == "=" and comparison(q, sk_key.type) and q.deterministic ~= false then
                if not sk.eq then sk.eq, used.eq = source(q, params), q end
            elseif OPS[q.op] and q.op ~= "=" and comparison(q, sk_key.type) and ranged and (q.value or q.param)
                and (q.param or not storable or storable(sk_col, q.value)) then
                if (q.op == ">" or q.op == ">=") and not sk.lo then
                    sk.lo, sk.lo_op, used.lo = source(q, params), q.op, q
                elseif (q.op == "<" or q.op == "<=") and not sk.hi then
                    sk.hi, sk.hi_op, used.hi = source(q, params), q.op, q
                end
            elseif q.op == "~~" and q.func == "textlike" and sk_key.type == "S" and q.value and not sk.prefix then
                sk.prefix = M.like_prefix(q.value)
                used.prefix = sk.prefix and q
            end
        end
    end
    local answered = {}
    if sk.eq then
        result.sk, answered = { eq = sk.eq }, { used.eq }
    elseif sk.lo or sk.hi then
        result.sk = { lo = sk.lo, lo_op = sk.lo_op, hi = sk.hi, hi_op = sk.hi_op }
        -- both bounds go as BETWEEN, which includes them: a strict bound stays PostgreSQL's
        local both = sk.lo and sk.hi
        answered = { (not both or sk.lo_op == ">=") and used.lo or nil, (not both or sk.hi_op == "<=") and used.hi or nil }
    elseif sk.prefix then
        result.sk, answered = { prefix = sk.prefix }, { used.prefix }
    end
    for _, q in pairs(answered) do
        if not q.param then result.exact[#result.exact + 1] = q.index end
    end
    if result.sk then result.sk_column = sk_col.name end
    return result
end

-- ---------- filters ----------

-- The DynamoDB type a column's values are compared as, for the column types whose comparison
-- PostgreSQL and DynamoDB share (text compares bytes only under the C collation; floats never).
local FILTER_TAGS = {
    text = "S", ["character varying"] = "S", bytea = "B", boolean = "BOOL",
    numeric = "N", integer = "N", bigint = "N", smallint = "N",
}
M.MAX_IN = 100            -- DynamoDB's limit of values in one IN
M.MAX_EXPRESSION = 4000   -- bytes; DynamoDB allows 4 KB per expression

-- A term for text equality on a path into a json/jsonb column (doc->'a'->>'b' = 'x', IN):
-- the path equals any AttributeValue whose JSON text can be the value (opts.candidates).  A
-- number compares by value in DynamoDB ('1.5' finds 1.50), so it is a superset: never exact.
-- attribute: the column's attribute, or "" for the whole item (the raw item column).
local function path_term(q, col, attribute, opts)
    if not (col and (col.type == "json" or col.type == "jsonb") and opts.candidates) then return nil end
    if q.func ~= "texteq" or q.deterministic == false then return nil end
    local texts = q.op == "=" and type(q.value) == "string" and { q.value }
        or q.op == "= ANY" and q.values or nil
    if not texts then return nil end
    local path = {}
    if attribute ~= "" then path[1] = attribute end
    for _, k in ipairs(q.path) do
        -- #> and #>> read '0' or '-1' as an array index, which a map path cannot say
        if k:match("^%-?%d+$") then return nil end
        path[#path + 1] = k
    end
    if #path == 0 or opts.skip[path[1]] then return nil end
    local avs = {}
    for _, text in ipairs(texts) do
        if text ~= opts.null then
            local c = opts.candidates(text)
            if not c or #c == 0 then return nil end -- ('' cannot be sent: the item would be missed)
            for _, av in ipairs(c) do avs[#avs + 1] = av end
        end
    end
    if #avs == 0 or #avs > M.MAX_IN then return nil end
    return { index = q.index, column = q.column, keys = q.path, path = path, op = "path", avs = avs,
             words = q.op == "=" and "= " .. M.source_text({ v = q.value }) or M.source_text({ vs = q.values }, true) }
end

-- One filter term for qual q, or nil when DynamoDB cannot check it.  opts as for filter_terms.
-- An OR/AND of quals is one term of terms, all of them constants; dropping an arm of an OR would
-- select fewer rows, so one arm DynamoDB cannot check keeps the whole OR in PostgreSQL.
local function filter_term(q, opts)
    if q.op == "OR" or q.op == "AND" then
        local args, exact = {}, true
        for i, a in ipairs(q.args) do
            local t = filter_term(a, opts)
            if not t or (t.src and t.src.p) then return nil end
            exact = exact and t.exact
            args[i] = t
        end
        return { index = q.index, op = q.op, args = args, exact = exact or nil }
    end
    local col, attribute = opts.column(q.column)
    if q.path then return path_term(q, col, attribute, opts) end
    local tag = col and FILTER_TAGS[col.type]
    if not tag or opts.skip[attribute] then return nil end
    local term = { index = q.index, column = q.column, attribute = attribute, tag = tag, op = q.op }
    if q.op == "IS NULL" or q.op == "IS NOT NULL" then
        term.exact = true
        return term
    end
    local text_ok = tag ~= "S" or q.deterministic ~= false
    if q.op == "~~" then
        if q.func ~= "textlike" or tag ~= "S" or type(q.value) ~= "string" then return nil end
        local prefix = M.like_prefix(q.value)
        if not prefix then return nil end
        term.op, term.src = "begins_with", { v = prefix }
    elseif q.op == "= ANY" then
        if not (q.values and comparison(q, tag) and text_ok) then return nil end
        local vs = {}
        for _, v in ipairs(q.values) do if v ~= opts.null then vs[#vs + 1] = v end end
        if #vs == 0 or #vs > M.MAX_IN then return nil end
        term.op, term.src = "IN", { vs = vs }
    else
        local suffix = FILTER_OPS[q.op]
        if not (suffix and comparison(q, tag)) then return nil end
        if (suffix == "eq" or suffix == "ne") and not text_ok then return nil end
        if suffix ~= "eq" and suffix ~= "ne" and ((tag == "S" and not byte_order(q)) or tag == "BOOL") then
            return nil
        end
        if q.param then
            term.src = source(q, opts.params)
            return term -- its value is known only at run time: PostgreSQL checks it as well
        end
        if q.value == nil or q.value == opts.null then return nil end
        term.src = { v = q.value }
    end
    -- every constant must be storable (no NaN, no empty string, within DynamoDB's number range)
    for _, v in ipairs(term.src.vs or { term.src.v }) do
        if not opts.encode(col, v) then return nil end
    end
    term.exact = true
    return term
end

-- The placeholder text of one term; id names its placeholders (#f<id>, :f<id>, :f<id>_<i> in an
-- IN list, the arms of an OR/AND <id>x<k>).
local function term_expression(t, id)
    if t.args then
        local parts = {}
        for k, a in ipairs(t.args) do parts[k] = term_expression(a, id .. "x" .. k) end
        return "(" .. table.concat(parts, " " .. t.op .. " ") .. ")"
    end
    if t.op == "path" then
        local segs, alts = {}, {}
        for k = 1, #t.path do segs[k] = "#f" .. id .. "p" .. k end
        local p = table.concat(segs, ".")
        for j = 1, #t.avs do alts[j] = p .. " = :f" .. id .. "c" .. j end
        return "(" .. table.concat(alts, " OR ") .. ")"
    end
    local a = "#f" .. id
    if t.op == "IS NULL" then return "(attribute_not_exists(" .. a .. ") OR attribute_type(" .. a .. ", :null))" end
    if t.op == "IS NOT NULL" then return "(attribute_exists(" .. a .. ") AND NOT attribute_type(" .. a .. ", :null))" end
    if t.op == "begins_with" then return "begins_with(" .. a .. ", :f" .. id .. ")" end
    if t.op == "IN" then
        local vs = {}
        for i = 1, #t.src.vs do vs[i] = ":f" .. id .. "_" .. i end
        return a .. " IN (" .. table.concat(vs, ", ") .. ")"
    end
    -- DynamoDB's <> is true for a missing or NULL attribute; PostgreSQL's is not
    if t.op == "<>" then return "(" .. a .. " <> :f" .. id .. " AND attribute_type(" .. a .. ", :t" .. id .. "))" end
    return a .. " " .. t.op .. " :f" .. id
end

local function names_length(t)
    if t.path then return #table.concat(t.path) end
    if not t.args then return #t.attribute end
    local n = 0
    for _, a in ipairs(t.args) do n = n + names_length(a) end
    return n
end

-- filter_terms(rel, opts) -> list of terms DynamoDB can check, in qual order.
--   opts.column(name) -> column description, attribute name (nil for columns that cannot be filtered)
--   opts.skip: qual index -> true (answered by the key condition), attribute -> true (a Query's keys)
--   opts.encode(col, text) -> AttributeValue or nil; opts.params as for key_conditions; opts.null
--   opts.candidates(text) -> AttributeValues a JSON path's text can be (types.text_candidates)
-- Each term: {index=, column=, attribute=, tag=, op=, src=, exact=} or {index=, op = "OR"|"AND",
-- args = {terms}, exact=}; exact terms need no local check.  Terms stop before the expression
-- would pass M.MAX_EXPRESSION bytes; the rest stay local.
function M.filter_terms(rel, opts)
    local terms, size = {}, 0
    for _, q in ipairs(rel.quals) do
        local t = not opts.skip[q.index] and filter_term(q, opts)
        if t then
            local add = #term_expression(t, tostring(#terms + 1)) + 5 + names_length(t) -- " AND " and names
            if size + add > M.MAX_EXPRESSION then break end
            size = size + add
            terms[#terms + 1] = t
        end
    end
    return terms
end

-- Binds term t's names and values under placeholder id: true; false when a run-time value cannot
-- be stored (the term is left out: PostgreSQL checks it); "never" when a parameter is NULL.
local function bind(t, id, names, values, values_of, value_of)
    if t.args then -- constants only: each arm binds
        for k, a in ipairs(t.args) do bind(a, id .. "x" .. k, names, values, values_of, value_of) end
        return true
    end
    if t.path then
        for k, name in ipairs(t.path) do names["#f" .. id .. "p" .. k] = name end
        for j, av in ipairs(t.avs) do values[":f" .. id .. "c" .. j] = av end
        return true
    end
    local texts = t.src and values_of(t.src) or {}
    if t.src and #texts == 0 then return "never" end
    local avs = {}
    for i, text in ipairs(texts) do
        avs[i] = value_of(t, text)
        if not avs[i] then return false end
    end
    names["#f" .. id] = t.attribute
    if t.op == "IS NULL" or t.op == "IS NOT NULL" then
        values[":null"] = { S = "NULL" }
    elseif t.op == "IN" then
        for i, av in ipairs(avs) do values[":f" .. id .. "_" .. i] = av end
    else
        values[":f" .. id] = avs[1]
        if t.op == "<>" then values[":t" .. id] = { S = t.tag } end
    end
    return true
end

-- filter_expression(terms, values_of, value_of) -> expression, names, values; nil when no term
-- is left; false when a term can never be true (a NULL parameter), so nothing matches.
--   values_of(src) -> list of texts, empty for NULL; value_of(term, text) -> AttributeValue or nil.
function M.filter_expression(terms, values_of, value_of)
    local parts, names, values = {}, {}, {}
    for _, t in ipairs(terms) do
        local id = tostring(#parts + 1)
        local bound = bind(t, id, names, values, values_of, value_of)
        if bound == "never" then return false end
        if bound then parts[#parts + 1] = term_expression(t, id) end
    end
    if #parts == 0 then return nil end
    return table.concat(parts, " AND "), names, values
end

-- The filter with placeholders only, for EXPLAIN VERBOSE.
function M.filter_text(terms)
    local parts = {}
    for i, t in ipairs(terms) do parts[i] = term_expression(t, tostring(i)) end
    return table.concat(parts, " AND ")
end

-- The filter in PostgreSQL's words, for EXPLAIN.
function M.filter_words(terms, joiner)
    local parts = {}
    for i, t in ipairs(terms) do
        if t.args then
            parts[i] = "(" .. M.filter_words(t.args, " " .. t.op .. " ") .. ")"
        elseif t.path then
            local keys = {}
            for k, key in ipairs(t.keys) do keys[k] = '"' .. key:gsub('"', '\\"') .. '"' end
            parts[i] = t.column .. " #>> '{" .. table.concat(keys, ","):gsub("'", "''") .. "}' " .. t.words
        elseif t.op == "IS NULL" or t.op == "IS NOT NULL" then
            parts[i] = t.column .. " " .. t.op
        elseif t.op == "begins_with" then
            parts[i] = t.column .. " LIKE '" .. t.src.v:gsub("'", "''") .. "%'"
        elseif t.op == "IN" then
            parts[i] = t.column .. " " .. M.source_text(t.src, true)
        else
            parts[i] = t.column .. " " .. t.op .. " " .. M.source_text(t.src)
        end
    end
    return table.concat(parts, joiner or " AND ")
end

-- A value source in PostgreSQL's words, for EXPLAIN: 'text', $n, IN ('a', 'b'), NULL.
function M.source_text(src, equals)
    local function quote(v) return "'" .. tostring(v):gsub("'", "''") .. "'" end
    if src.v then return (equals and "= " or "") .. quote(src.v) end
    if src.p then return (equals and "= " or "") .. (src.label or "?") end
    if src.none then return (equals and "= " or "") .. "NULL" end
    local parts = {}
    for i, v in ipairs(src.vs) do parts[i] = quote(v) end
    return (equals and "IN " or "ANY ") .. "(" .. table.concat(parts, ", ") .. ")"
end

-- Can this column carry key values of this type (text for S, numeric or integer for N, bytea for B)?
-- (Ordering text also needs the C collation: C checks that against the ORDER BY.)
function M.key_column(col, key)
    if not (col and key and COLUMN_TYPES[key.type][col.type]) then return false end
    return true
end

-- Exact comparison of two DynamoDB decimal strings: -1, 0 or 1.
local function decimal_parts(s)
    local sign, int, frac, exp = s:match("^([+-]?)(%d*)%.?(%d*)[eE]?([+-]?%d*)$")
    local digits = (int .. frac):gsub("^0+", "")
    if digits == "" then return 0, "", 0 end
    local lead = #(int .. frac) - #digits -- zeros dropped in front
    -- value = 0.digits * 10^point
    local point = #int - lead + (tonumber(exp) or 0)
    return sign == "-" and -1 or 1, digits:gsub("0+$", ""), point
end

local function compare_decimal(a, b)
    local sa, da, pa = decimal_parts(a)
    local sb, db, pb = decimal_parts(b)
    if sa ~= sb then return sa < sb and -1 or 1 end
    if sa == 0 then return 0 end
    local c
    if pa ~= pb then
        c = pa < pb and -1 or 1
    else
        local n = math.max(#da, #db)
        da, db = da .. string.rep("0", n - #da), db .. string.rep("0", n - #db)
        c = da == db and 0 or (da < db and -1 or 1)
    end
    return sa * c
end
M.compare_decimal = compare_decimal

-- One text per distinct key value: equal numbers ('1', '1.0', '1E0') give the same text.
function M.canonical(av)
    if av.N then
        local sign, digits, point = decimal_parts(av.N)
        return "N" .. sign .. ":" .. digits .. ":" .. point
    end
    if av.B then return "B" .. av.B end
    return "S" .. av.S
end

-- Compares two AttributeValues of one key type (S bytes, N numbers, B unsigned bytes): -1, 0, 1.
function M.compare(a, b, base64_decode)
    if a.N then return compare_decimal(a.N, b.N) end
    local x, y = a.S, b.S
    if a.B then
        local decode = base64_decode or require("dynamo_lua_fdw.capi").base64_decode
        x, y = decode(a.B), decode(b.B)
    end
    return x == y and 0 or (x < y and -1 or 1)
end

-- The KeyConditionExpression for the values given (AttributeValues), with names and values.
-- values: {pk = av, eq = av, lo = av, hi = av, prefix = av}
function M.key_expression(schema, sk, values)
    local expr = { "#pk = :pk" }
    local names = { ["#pk"] = schema.partition_key.name }
    local vals = { [":pk"] = values.pk }
    if sk then
        names["#sk"] = schema.sort_key.name
        if sk.eq then -- a secondary index: GetItem reads only the table
            expr[2] = "#sk = :eq"
            vals[":eq"] = values.eq
        elseif sk.prefix then
            expr[2] = "begins_with(#sk, :prefix)"
            vals[":prefix"] = values.prefix
        elseif sk.lo and sk.hi then
            expr[2] = "#sk BETWEEN :lo AND :hi"
            vals[":lo"], vals[":hi"] = values.lo, values.hi
        elseif sk.lo then
            expr[2] = "#sk " .. sk.lo_op .. " :lo"
            vals[":lo"] = values.lo
        else
            expr[2] = "#sk " .. sk.hi_op .. " :hi"
            vals[":hi"] = values.hi
        end
    end
    return table.concat(expr, " AND "), names, vals
end

return M
