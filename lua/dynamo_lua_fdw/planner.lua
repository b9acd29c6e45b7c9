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
local FUNCS = { S = {}, N = {}, B = {} }
for _, suffix in ipairs({ "eq", "lt", "le", "gt", "ge" }) do
    FUNCS.S[(suffix == "eq" and "text" or "text_") .. suffix] = suffix
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

-- True when q's function is PostgreSQL's comparison op for a key of type keytype.
local function comparison(q, keytype)
    local suffix = OPS[q.op] or (q.op == "= ANY" and "eq")
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

-- A value source: {v = text} a constant, {p = n} the n-th plan parameter, {vs = {...}} a list.
local function source(q, params)
    if q.param then
        for i, k in ipairs(params) do if k == q.param then return { p = i, label = q.label } end end
        params[#params + 1] = q.param
        return { p = #params, label = q.label }
    end
    if q.values then return { vs = q.values } end
    if q.value ~= nil then return { v = q.value } end
end

-- key_conditions(rel, schema, by_attribute, params) -> {pk = source, sk = {...}} or nil.
--   schema: {partition_key = {name=, type=}, sort_key = ... | nil}
--   by_attribute: attribute name -> column description
--   params: list of C parameter indexes used so far (appended to)
-- sk = {eq = source} | {lo = source, lo_op = ">"|">=", hi = source, hi_op = "<"|"<="} | {prefix = text}
function M.key_conditions(rel, schema, by_attribute, params, null)
    local function usable(col, key)
        return col and COLUMN_TYPES[key.type][col.type]
    end
    local pk_key, sk_key = schema.partition_key, schema.sort_key
    local pk_col = by_attribute[pk_key.name]
    if not usable(pk_col, pk_key) then return nil end
    local result = {}
    for _, q in ipairs(rel.quals) do
        if not result.pk and q.column == pk_col.name and (q.op == "=" or (q.op == "= ANY" and q.values))
            and comparison(q, pk_key.type) and q.deterministic ~= false and q.value ~= null then
            result.pk = source(q, params)
            result.pk_column = pk_col.name
        end
    end
    if not result.pk then return nil end
    local sk_col = sk_key and by_attribute[sk_key.name]
    if not usable(sk_col, sk_key) then return result end
    local sk = {}
    for _, q in ipairs(rel.quals) do
        if q.column == sk_col.name and q.value ~= null then
            local ranged = sk_key.type ~= "S" or byte_order(q)
            if q.op == "=" and comparison(q, sk_key.type) and q.deterministic ~= false then
                sk.eq = sk.eq or source(q, params)
            elseif OPS[q.op] and q.op ~= "=" and comparison(q, sk_key.type) and ranged and (q.value or q.param) then
                if (q.op == ">" or q.op == ">=") and not sk.lo then
                    sk.lo, sk.lo_op = source(q, params), q.op
                elseif (q.op == "<" or q.op == "<=") and not sk.hi then
                    sk.hi, sk.hi_op = source(q, params), q.op
                end
            elseif q.op == "~~" and q.func == "textlike" and sk_key.type == "S" and q.value then
                sk.prefix = sk.prefix or M.like_prefix(q.value)
            end
        end
    end
    if sk.eq then
        result.sk = { eq = sk.eq }
    elseif sk.lo or sk.hi then
        result.sk = { lo = sk.lo, lo_op = sk.lo_op, hi = sk.hi, hi_op = sk.hi_op }
    elseif sk.prefix then
        result.sk = { prefix = sk.prefix }
    end
    if result.sk then result.sk_column = sk_col.name end
    return result
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
-- values: {pk = av, eq = av, lo = av, hi = av}
function M.key_expression(schema, sk, values)
    local expr = { "#pk = :pk" }
    local names = { ["#pk"] = schema.partition_key.name }
    local vals = { [":pk"] = values.pk }
    if sk and not sk.eq then
        names["#sk"] = schema.sort_key.name
        if sk.prefix then
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
