-- Example mapping: renamed attributes and a computed column.
--
-- The DynamoDB table names its attributes CustomerID, GivenName and
-- FamilyName; SQL wants id, first_name and last_name, and a full_name that
-- no item stores:
--
--     CREATE FOREIGN TABLE customers (
--         id text NOT NULL, first_name text, last_name text, full_name text, email text
--     ) SERVER dynamodb_server OPTIONS (mapping 'customers', table 'Customers');
--
-- The script keeps the names in one place (RENAMED) instead of an attribute
-- option on every column, and computes full_name from the other columns of
-- the row (COMPUTED).  Everything else is the typed mapping: this script
-- hands it the table as if the renamed columns had attribute options and the
-- computed column did not exist, then fills in the computed values.  A renamed
-- key column keeps its pushdown: WHERE id = 'c1' reads only the item CustomerID = 'c1'.
--
-- Computed columns are read-only: INSERT takes NULL for them, UPDATE may not
-- change them, and RETURNING shows the computed value.
local errors = require "dynamo_lua_fdw.errors"
local typed = require "dynamo_lua_fdw.mappings.typed"

-- Whatever this module does not define, the typed mapping does.
local M = setmetatable({}, { __index = typed })

-- column -> DynamoDB attribute (a column option attribute still wins)
local RENAMED = { id = "CustomerID", first_name = "GivenName", last_name = "FamilyName" }

-- Computed columns: column -> { uses = the columns it is computed from, fn = function(row)
-- returning its text (or nil for NULL) }, where row.<column> is the text of a column of
-- the same row (nil when NULL).  "uses" tells the typed mapping what to read: a query that
-- reads only full_name makes DynamoDB send GivenName and FamilyName.
local COMPUTED = {
    full_name = {
        uses = { "first_name", "last_name" },
        fn = function(row)
            if row.first_name and row.last_name then return row.first_name .. " " .. row.last_name end
            return row.first_name or row.last_name
        end,
    },
}

-- The relation as the typed mapping should see it, and what this script adds on top.
local function view(rel)
    local v, extra = {}, { computed = {}, names = {} }
    for k, val in pairs(rel) do v[k] = val end
    v.columns = {}
    local attnum_of = {}
    for i, col in ipairs(rel.columns) do
        local c = col
        if col.name then attnum_of[col.name] = col.attnum end
        if col.name and COMPUTED[col.name] then
            c = { attnum = col.attnum, dropped = true } -- what C sends for a dropped column
            extra.computed[#extra.computed + 1] = { attnum = col.attnum, name = col.name, fn = COMPUTED[col.name].fn }
        elseif col.name and RENAMED[col.name] and not (col.options and col.options.attribute) then
            c = {}
            for k, val in pairs(col) do c[k] = val end
            c.options = {}
            for k, val in pairs(col.options or {}) do c.options[k] = val end
            c.options.attribute = RENAMED[col.name]
        end
        if col.name and not COMPUTED[col.name] then extra.names[#extra.names + 1] = { col.attnum, col.name } end
        v.columns[i] = c
    end
    -- What the query reads (when C says): a computed column stands for the columns it uses.
    if rel.needed then
        v.needed = {}
        for _, attnum in ipairs(rel.needed) do
            local col = rel.columns[attnum]
            local computed = col and col.name and COMPUTED[col.name]
            for _, name in ipairs(computed and computed.uses or { col and col.name }) do
                local a = attnum_of[name]
                if a and not COMPUTED[name] then v.needed[#v.needed + 1] = a end
            end
        end
    end
    return v, extra
end

-- Sets the computed columns of the row starting after offset base of values.
local function compute(extra, values, base)
    local row = {}
    for _, n in ipairs(extra.names) do row[n[2]] = values[base + n[1]] end
    for _, c in ipairs(extra.computed) do values[base + c.attnum] = c.fn(row) end
end

function M.plan_scan(rel)
    return typed.plan_scan((view(rel)))
end

function M.begin_scan(plan, rel, params, ...)
    local v, extra = view(rel)
    local st = typed.begin_scan(plan, v, params, ...)
    extra.natts = #rel.columns
    st.example_computed = extra
    return st
end

function M.fetch(st)
    local values, n, where = typed.fetch(st)
    local extra = st.example_computed
    if values and extra then
        for r = 1, n do compute(extra, values, (r - 1) * extra.natts) end
    end
    return values, n, where
end

function M.begin_modify(rel)
    local v, extra = view(rel)
    local st = typed.begin_modify(v)
    st.example_computed = extra
    return st
end

-- SQLSTATE 428C9, as PostgreSQL's own generated columns give.
local function read_only(c, message)
    errors.raise{ sqlstate = "428C9", message = string.format(message, c.name),
        detail = string.format("Column \"%s\" is computed by the customers mapping from the other columns.", c.name),
        hint = "Leave the column out of the statement." }
end

function M.insert(st, level, new)
    for _, c in ipairs(st.example_computed.computed) do
        if new[c.attnum] ~= nil then read_only(c, "cannot insert a non-NULL value into computed column \"%s\"") end
    end
    local row = typed.insert(st, level, new)
    compute(st.example_computed, row, 0)
    return row
end

function M.update(st, level, old, new)
    for _, c in ipairs(st.example_computed.computed) do
        if new[c.attnum] ~= old[c.attnum] then read_only(c, "column \"%s\" is computed and cannot be updated") end
    end
    local row = typed.update(st, level, old, new)
    compute(st.example_computed, row, 0)
    return row
end

return M
