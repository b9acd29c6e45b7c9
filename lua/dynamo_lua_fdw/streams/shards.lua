-- What the Kinesis and DynamoDB Streams mappings share: their fixed columns,
-- the conditions that choose shards and where to start reading them, shard
-- order, and value texts.  Pure (no requests); unit-tested in t/lua/test_streams.lua.
local errors = require "dynamo_lua_fdw.errors"
local columns = require "dynamo_lua_fdw.columns"
local dates = require "dynamo_lua_fdw.dates"
local cjson = require "cjson"
local planner = require "dynamo_lua_fdw.planner"

local floor, format, find, byte = math.floor, string.format, string.find, string.byte

local M = {}

-- columns(rel, known, kind) -> { [known name] = column } for the table's columns; a column
-- that is none of `known` (a list of names) is an error naming the valid ones.
-- The column option attribute maps a column of another name (as in typed tables).
function M.columns(rel, known, kind)
    local valid, by = {}, {}
    for _, name in ipairs(known) do valid[name] = true end
    for _, col in ipairs(rel.columns) do
        if col.name then
            local name = columns.attribute_name(col)
            if not valid[name] then
                errors.raise{ sqlstate = "42703",
                    message = format('column "%s" of foreign table "%s" is not a %s column', col.name, rel.relname, kind),
                    detail = format("A %s table has the columns %s.", kind, table.concat(known, ", ")),
                    hint = "Drop the column, or map it to one of those with the column option attribute." }
            end
            by[name] = col
        end
    end
    return by
end

local function source(q, params) return planner.source(q, params, cjson.null) end

local SEQ_OPS = { numeric_gt = ">", numeric_ge = ">=", numeric_eq = "=" }
local TS_OPS = { timestamptz_gt = ">", timestamptz_ge = ">=", timestamptz_eq = "=" }

-- conditions(rel, by, params) -> { shard = source, seq = {op=, src=}, ts = {op=, src=} }
-- Only conditions that give a lower bound are used: a shard id equality (or IN), a
-- sequence number > >= = (numeric columns: a text column compares otherwise than the
-- service), an arrival time > >= = (timestamptz). PostgreSQL still checks every qual.
function M.conditions(rel, by, params)
    local out = {}
    local name_of = {}
    for name, col in pairs(by) do name_of[col.name] = name end
    for _, q in ipairs(rel.quals or {}) do
        local name = name_of[q.column]
        if name == "shard_id" and not out.shard and q.deterministic ~= false
            and (q.func == "texteq" and (q.op == "=" or q.op == "= ANY")) then
            out.shard = source(q, params)
        elseif name == "sequence_number" and not out.seq and SEQ_OPS[q.func] and q.op == SEQ_OPS[q.func]
            and not q.values then
            local src = source(q, params)
            if src then out.seq = { op = q.op, src = src } end
        elseif name == "arrival_time" and not out.ts and TS_OPS[q.func] and q.op == TS_OPS[q.func]
            and not q.values then
            local src = source(q, params)
            if src then out.ts = { op = q.op, src = src } end
        end
    end
    return out
end

-- The texts of a source with the scan's parameter values (NULLs left out).
function M.values(src, params) return planner.values_of(src, params, cjson.null) end

-- The shard ids the plan's shard_id condition names (a set), or nil for every shard.
function M.wanted(plan, params)
    if not plan.shard then return nil end
    local set = {}
    for _, v in ipairs(M.values(plan.shard, params)) do set[v] = true end
    return set
end

-- One reader {attnum =, name =, col =} per fixed column the query reads (plan.needed, or all).
function M.readers(rel, plan, known, kind)
    local needed
    if plan.needed then
        needed = {}
        for _, attnum in ipairs(plan.needed) do needed[attnum] = true end
    end
    local out = {}
    for name, col in pairs(M.columns(rel, known, kind)) do
        if not needed or needed[col.attnum] then out[#out + 1] = { attnum = col.attnum, name = name, col = col } end
    end
    return out
end

-- A page of stream records as fetch returns it: values (st.natts per row, from row_values),
-- the count, and a description of each row naming its shard and sequence number.
function M.page_rows(st, shard_id, recs, row_values, sequence_of)
    local values, where, natts = {}, {}, st.natts
    for i, rec in ipairs(recs) do
        row_values(st, shard_id, rec, values, (i - 1) * natts)
        where[i] = format("%s sequence number %s", shard_id, tostring(sequence_of(rec)))
    end
    st.records = st.records + #recs
    return values, #recs, where
end

-- EXPLAIN ANALYZE's lines of a stream scan, each label starting with prefix.
function M.explain_counts(out, prefix, st)
    for _, x in ipairs({ { " Shards Read", st.shards_read }, { " Iterators", M.tally_text(st.iterator_types) },
                         { " Requests Sent", st.requests }, { " Records", st.records } }) do
        out[#out + 1] = prefix .. x[1]
        out[#out + 1] = tostring(x[2])
    end
end

-- A source in PostgreSQL's words, for EXPLAIN.
M.source_text = planner.source_text

-- Epoch seconds of timestamptz output text in ISO form ("2024-01-15 10:00:00.5+05:30", also with
-- "T" or "Z"), or nil for anything else (another DateStyle, infinity): then nothing is pushed down.
function M.parse_timestamptz(text)
    if type(text) ~= "string" then return nil end
    local y, mo, d, h, mi, s, frac, rest =
        text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
    if not y then return nil end
    local offset = 0
    if rest == "Z" then
        offset = 0
    else
        local sign, oh, om, os = rest:match("^([+-])(%d%d):?(%d?%d?):?(%d?%d?)$")
        if not sign then return nil end
        offset = (tonumber(oh) * 3600 + (tonumber(om) or 0) * 60 + (tonumber(os) or 0)) * (sign == "-" and -1 or 1)
    end
    local t = dates.civil_to_epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s))
    return t - offset + (tonumber("0" .. frac) or 0)
end

-- Epoch seconds (a number, as the services send ApproximateArrivalTimestamp) -> timestamptz
-- input text in UTC with milliseconds: "2024-01-15 10:00:00.123+00".
function M.epoch_text(x)
    local ms = floor(x * 1000 + 0.5)
    local secs = floor(ms / 1000)
    local days = floor(secs / 86400)
    local rem = secs - days * 86400
    local y, mo, d = dates.civil_from_days(days)
    return format("%04d-%02d-%02d %02d:%02d:%02d.%03d+00", y, mo, d, floor(rem / 3600),
        floor(rem % 3600 / 60), rem % 60, ms - secs * 1000)
end

-- Where to start reading a shard, best first: each entry is the GetShardIterator fields
-- after ShardId. A sequence number belongs to one shard, so the caller falls back to the
-- next entry when the service refuses it for another shard.
--   start = { seq_op = ">"|">="|"=", seq = text, ts = epoch seconds }, now = epoch seconds
--   names = { seq = "StartingSequenceNumber" (Kinesis) | "SequenceNumber" (DynamoDB Streams),
--             timestamps = true when the service has AT_TIMESTAMP }
-- A timestamp near or after now starts a minute early (a service refuses future timestamps);
-- one more than a minute ahead reads from LATEST (nothing has arrived after it yet).
M.CLOCK_MARGIN = 60

function M.start_positions(start, now, names)
    local out = {}
    if start.seq then
        out[#out + 1] = { ShardIteratorType = start.seq_op == ">" and "AFTER_SEQUENCE_NUMBER" or "AT_SEQUENCE_NUMBER",
            [names.seq] = start.seq }
    end
    if start.ts and names.timestamps then
        if start.ts > now + M.CLOCK_MARGIN then
            out[#out + 1] = { ShardIteratorType = "LATEST" }
        else
            out[#out + 1] = { ShardIteratorType = "AT_TIMESTAMP",
                Timestamp = math.min(start.ts, now - M.CLOCK_MARGIN) }
        end
    end
    out[#out + 1] = { ShardIteratorType = "TRIM_HORIZON" }
    return out
end

-- Shards with every parent before its children (records of a key move to the child
-- shards at a reshard), otherwise in the order listed.
function M.order_shards(shards)
    local by, out, seen = {}, {}, {}
    for _, s in ipairs(shards) do by[s.ShardId] = s end
    local function place(s)
        if seen[s.ShardId] then return end -- placed, or being placed (a cycle, which services never send)
        seen[s.ShardId] = true
        for _, parent in ipairs({ s.ParentShardId, s.AdjacentParentShardId }) do
            if parent ~= cjson.null and by[parent] then place(by[parent]) end
        end
        out[#out + 1] = s
    end
    for _, s in ipairs(shards) do place(s) end
    return out
end

-- True when the decimal text is a sequence number (digits only, as the services write them).
function M.is_sequence_number(text)
    return type(text) == "string" and #text > 0 and #text <= 128 and not find(text, "[^%d]")
end

-- True when s is valid UTF-8 without NUL (what a text or json column can hold).
function M.valid_text(s)
    if find(s, "\0", 1, true) then return false end
    if not find(s, "[\128-\255]") then return true end
    local i, n = 1, #s
    while i <= n do
        local c = byte(s, i)
        local len, min
        if c < 0x80 then len = 1
        elseif c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
        elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
        elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
        else return false end
        if len > 1 then
            if i + len - 1 > n then return false end
            local cp = c % (2 ^ (7 - len))
            for k = 1, len - 1 do
                local b = byte(s, i + k)
                if b < 0x80 or b > 0xBF then return false end
                cp = cp * 64 + (b - 0x80)
            end
            -- overlong forms, surrogates and code points past U+10FFFF
            if cp < min or (cp >= 0xD800 and cp <= 0xDFFF) or cp > 0x10FFFF then return false end
        end
        i = i + len
    end
    return true
end

-- "AT_TIMESTAMP x2, TRIM_HORIZON" of a {name = count} table, sorted; "none" when empty (EXPLAIN ANALYZE).
function M.tally_text(t)
    local parts = {}
    for k, n in pairs(t) do parts[#parts + 1] = n > 1 and (k .. " x" .. n) or k end
    table.sort(parts)
    return #parts > 0 and table.concat(parts, ", ") or "none"
end

-- Re-raises err; a structured "not found" from the service gets a hint about `what`
-- (the shared one speaks of DynamoDB tables). Other errors (a cancel) pass unchanged.
function M.rethrow(err, what, region)
    if errors.is_structured(err) and err.aws_code == "ResourceNotFoundException" then
        err.hint = format("Check %s, and that it exists in region \"%s\".", what, tostring(region))
    end
    error(err, 0)
end

-- Characters of a UTF-8 string (partition keys are limited in characters, not bytes).
function M.char_length(s)
    local _, cont = s:gsub("[\128-\191]", "")
    return #s - cont
end

return M
