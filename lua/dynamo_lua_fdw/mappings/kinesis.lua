-- Kinesis foreign tables: OPTIONS (mapping 'kinesis', stream 'name').
--
--   CREATE FOREIGN TABLE events (shard_id text, sequence_number numeric, arrival_time timestamptz,
--       partition_key text, data json) SERVER kinesis OPTIONS (mapping 'kinesis', stream 'events');
--
-- INSERT buffers records (kinesis/buffer.lua), sent with PutRecords at COMMIT.
-- SELECT lists the shards and reads each one (GetShardIterator, then GetRecords
-- until the shard has nothing more now). Conditions on shard_id, sequence_number
-- and arrival_time choose the shards and where reading starts; PostgreSQL still
-- checks every condition, so they only ever save reading.
local errors = require "dynamo_lua_fdw.errors"
local columns = require "dynamo_lua_fdw.columns"
local client_mod = require "dynamo_lua_fdw.aws.client"
local capi = require "dynamo_lua_fdw.capi"
local shards = require "dynamo_lua_fdw.streams.shards"
local buffer = require "dynamo_lua_fdw.kinesis.buffer"

local format = string.format

local M = {}

M.COLUMNS = { "shard_id", "sequence_number", "arrival_time", "partition_key", "data", "explicit_hash_key" }
M.GET_RECORDS_LIMIT = 10000 -- GetRecords' own maximum
-- A shard written to without pause could keep a scan reading; records that arrived this many
-- seconds after the scan began end it (a margin for the service's clock).
M.LATE_ARRIVAL = 300

local function new_client(rel)
    return client_mod.new{ server_options = rel.server.options, user_options = rel.user,
        service = "kinesis", target_prefix = "Kinesis_20131202", content_type = "application/x-amz-json-1.1" }
end

local function stream_name(rel)
    local s = rel.table.stream
    if not s or s == "" then
        errors.raise{ sqlstate = "HV00D", message = format('foreign table "%s" names no Kinesis stream', rel.relname),
            hint = "Add the table option stream: ALTER FOREIGN TABLE ... OPTIONS (ADD stream 'name')." }
    end
    if not s:match("^[%w_.-]+$") or #s > 128 then
        errors.raise{ sqlstate = "HV024", message = format('invalid Kinesis stream name "%s"', s),
            hint = "A stream name has 1 to 128 letters, digits, underscores, hyphens and periods." }
    end
    return s
end

---------------------------------------------------------------------------
-- reading
---------------------------------------------------------------------------

function M.plan_scan(rel)
    local stream = stream_name(rel)
    local by = shards.columns(rel, M.COLUMNS, "Kinesis")
    local params = {}
    local cond = rel.pushdown and shards.conditions(rel, by, params) or {}
    -- a numeric column compares as the service does; text would compare '9' > '10'
    if cond.seq and by.sequence_number.type ~= "numeric" then cond.seq = nil end
    if cond.ts and by.arrival_time.type ~= "timestamp with time zone" then cond.ts = nil end
    -- a constant that cannot be used (a DateStyle other than ISO) is left out, so EXPLAIN tells the truth
    if cond.seq and cond.seq.src.v and not shards.is_sequence_number(cond.seq.src.v) then cond.seq = nil end
    if cond.ts and cond.ts.src.v and not shards.parse_timestamptz(cond.ts.src.v) then cond.ts = nil end
    local rows = cond.shard and 1000 or 10000
    return {
        -- only the columns the query reads are decoded (count(*) decodes no data)
        plan = { stream = stream, shard = cond.shard, seq = cond.seq, ts = cond.ts,
                 needed = not rel.needed_all and rel.needed or nil },
        params = params, rows = rows, startup_cost = 100, total_cost = 100 + rows * 2,
    }
end

-- "shard_id = 'x'", "arrival_time >= $1", ... as EXPLAIN shows them
local function start_text(plan)
    local parts = {}
    if plan.seq then
        parts[#parts + 1] = (plan.seq.op == ">" and "AFTER_SEQUENCE_NUMBER" or "AT_SEQUENCE_NUMBER")
            .. " (sequence_number " .. plan.seq.op .. " " .. shards.source_text(plan.seq.src) .. ")"
    end
    if plan.ts then
        parts[#parts + 1] = "AT_TIMESTAMP (arrival_time " .. plan.ts.op .. " " .. shards.source_text(plan.ts.src) .. ")"
    end
    parts[#parts + 1] = "TRIM_HORIZON"
    return table.concat(parts, ", else ")
end

function M.explain(plan, verbose, st)
    local out = { "Kinesis Stream", plan.stream,
        "Kinesis Shards", plan.shard and ("shard_id = " .. shards.source_text(plan.shard)) or "all",
        "Kinesis Start", start_text(plan) }
    if verbose then
        out[#out + 1] = "Kinesis Requests"
        out[#out + 1] = "ListShards; per shard GetShardIterator, then GetRecords (Limit "
            .. M.GET_RECORDS_LIMIT .. ") until MillisBehindLatest = 0 and a page is empty"
    end
    if st then shards.explain_counts(out, "Kinesis", st) end
    return out
end

-- Where reading starts, from the plan and the scan's parameter values.
local function start_of(plan, params)
    local start = {}
    if plan.seq then
        local v = shards.values(plan.seq.src, params)[1]
        if v and shards.is_sequence_number(v) then start.seq, start.seq_op = v, plan.seq.op end
    end
    if plan.ts then
        start.ts = shards.parse_timestamptz(shards.values(plan.ts.src, params)[1])
    end
    return start
end

local function start(st, params)
    st.start = start_of(st.plan, params)
    st.wanted = shards.wanted(st.plan, params)
    st.list, st.shard_i, st.iterator = nil, 0, nil
    st.began = capi.now()
end

function M.begin_scan(plan, rel, params)
    local st = { plan = plan, rel = rel, natts = #rel.columns, client = new_client(rel),
                 shards_read = 0, requests = 0, records = 0, iterator_types = {},
                 readers = shards.readers(rel, plan, M.COLUMNS, "Kinesis") }
    for _, r in ipairs(st.readers) do
        if r.name == "data" then
            r.bytea = r.col.type == "bytea"
            r.decode = r.bytea and columns.decoder({ name = r.col.name, type = "bytea", options = {} })
        end
    end
    start(st, params)
    return st
end

function M.rescan(st, params) start(st, params) end

-- True when a page's records arrived long after the scan began: the shard is read far enough.
function M.past_scan_start(recs, began)
    local last = recs[#recs]
    local t = type(last) == "table" and tonumber(last.ApproximateArrivalTimestamp)
    return t ~= nil and t > began + M.LATE_ARRIVAL
end

local function call(st, op, params)
    st.requests = st.requests + 1
    local ok, resp = pcall(st.client.call, st.client, op, params)
    if not ok then shards.rethrow(resp, format('the stream "%s" (table option stream)', st.plan.stream), st.client.region) end
    return resp
end

-- Every shard of the stream (ListShards pages), parents first, those the conditions allow.
local function list_shards(st)
    local all, token = {}, nil
    repeat
        -- with NextToken, ListShards refuses StreamName
        local resp = call(st, "ListShards", token and { NextToken = token } or { StreamName = st.plan.stream })
        if type(resp.Shards) ~= "table" then errors.malformed("ListShards", "has no Shards") end
        for _, s in ipairs(resp.Shards) do all[#all + 1] = s end
        token = type(resp.NextToken) == "string" and resp.NextToken or nil
    until not token
    local out = {}
    for _, s in ipairs(shards.order_shards(all)) do
        if not st.wanted or st.wanted[s.ShardId] then out[#out + 1] = s end
    end
    return out
end

-- A shard's iterator at the best start position the service accepts for it.
local function iterator(st, shard)
    local positions = shards.start_positions(st.start, capi.now() + client_mod.clock_offset(),
        { seq = "StartingSequenceNumber", timestamps = true })
    for i, pos in ipairs(positions) do
        local req = { StreamName = st.plan.stream, ShardId = shard.ShardId }
        for k, v in pairs(pos) do req[k] = v end
        local ok, resp = pcall(call, st, "GetShardIterator", req)
        -- a sequence number of another shard: start this one otherwise
        if not ok and (i == #positions or not errors.is_structured(resp)
                or resp.aws_code ~= "InvalidArgumentException") then
            error(resp, 0)
        end
        if ok then
            if type(resp.ShardIterator) ~= "string" then errors.malformed("GetShardIterator", "has no ShardIterator") end
            st.iterator_types[pos.ShardIteratorType] = (st.iterator_types[pos.ShardIteratorType] or 0) + 1
            return resp.ShardIterator
        end
    end
end

local function row_values(st, shard_id, rec, values, base)
    for _, r in ipairs(st.readers) do
        local v
        if r.name == "shard_id" then v = shard_id
        elseif r.name == "sequence_number" then v = rec.SequenceNumber
        elseif r.name == "partition_key" then v = rec.PartitionKey
        elseif r.name == "arrival_time" then
            v = type(rec.ApproximateArrivalTimestamp) == "number" and shards.epoch_text(rec.ApproximateArrivalTimestamp) or nil
        elseif r.name == "data" then
            if r.bytea then
                v = r.decode({ B = rec.Data })
            else
                local raw = capi.base64_decode(rec.Data or "")
                if not raw or not shards.valid_text(raw) then
                    errors.raise{ sqlstate = "22021",
                        message = format("the data of a Kinesis record in %s is not valid UTF-8 text", shard_id),
                        detail = format("The record's sequence number is %s. Columns of type text, json and jsonb "
                            .. "hold UTF-8 text without NUL bytes.", tostring(rec.SequenceNumber)),
                        hint = "Declare the column data as bytea to read binary records." }
                end
                v = raw
            end
        end
        if type(v) ~= "string" then v = nil end
        values[base + r.attnum] = v
    end
end

-- One page of rows: reads on (past empty pages) until records come or every shard is done.
function M.fetch(st)
    if not st.list then st.list = list_shards(st) end
    while true do
        if not st.iterator then
            st.shard_i = st.shard_i + 1
            local shard = st.list[st.shard_i]
            if not shard then return nil, 0 end
            st.shards_read = st.shards_read + 1
            st.iterator = iterator(st, shard)
        end
        local shard_id = st.list[st.shard_i].ShardId
        local resp = call(st, "GetRecords", { ShardIterator = st.iterator, Limit = M.GET_RECORDS_LIMIT })
        local recs = resp.Records
        if type(recs) ~= "table" then errors.malformed("GetRecords", "has no Records") end
        local behind = tonumber(resp.MillisBehindLatest) or 0
        st.iterator = type(resp.NextShardIterator) == "string" and resp.NextShardIterator or nil
        -- caught up: an empty page at the tip (a closed shard ends with no next iterator)
        if #recs == 0 and behind == 0 then st.iterator = nil end
        if #recs > 0 and M.past_scan_start(recs, st.began) then st.iterator = nil end
        if #recs > 0 then
            return shards.page_rows(st, shard_id, recs, row_values, function(rec) return rec.SequenceNumber end)
        end
        capi.check_interrupts()
    end
end

function M.end_scan() end

---------------------------------------------------------------------------
-- writing
---------------------------------------------------------------------------

function M.begin_modify(rel)
    if rel.operation ~= "insert" then
        errors.raise{ sqlstate = "0A000", message = format("cannot %s Kinesis records", rel.operation),
            detail = "A Kinesis stream is append-only.", hint = "INSERT new records instead." }
    end
    if rel.on_conflict then
        errors.raise{ sqlstate = "0A000", message = "INSERT ... ON CONFLICT is not supported for Kinesis tables",
            detail = "Every INSERT adds a record: a stream has no keys to conflict on." }
    end
    if rel.table.write_mode and rel.table.write_mode ~= "batch" then
        errors.raise{ sqlstate = "0A000",
            message = format('write_mode %s is not supported for Kinesis table "%s"', rel.table.write_mode, rel.relname),
            detail = "Kinesis records are always sent at COMMIT, with PutRecords.",
            hint = "Remove the table option write_mode." }
    end
    local by = shards.columns(rel, M.COLUMNS, "Kinesis")
    if not by.partition_key or not by.data then
        errors.raise{ sqlstate = "42703",
            message = format('Kinesis table "%s" needs the columns partition_key and data for INSERT', rel.relname) }
    end
    local ordering = rel.table.ordering or "partition_key"
    if ordering ~= "partition_key" and ordering ~= "none" then
        errors.raise{ sqlstate = "HV024", message = format('invalid value for option "ordering": "%s"', ordering),
            hint = "Valid values are partition_key (the default: records of a key keep their order) and none." }
    end
    local data = by.data
    return { rel = rel, client = new_client(rel), stream = stream_name(rel), ordered = ordering ~= "none",
             pk_att = by.partition_key.attnum, data_att = data.attnum, data_name = data.name,
             ehk_att = by.explicit_hash_key and by.explicit_hash_key.attnum,
             encode = data.type == "bytea" and columns.encoder({ name = data.name, type = "bytea", options = {} }) or nil }
end

local function not_null(st, name)
    errors.raise{ sqlstate = "23502",
        message = format('null value in column "%s" of Kinesis table "%s"', name, st.rel.relname),
        detail = "Every Kinesis record needs a partition key and data (the data may be empty)." }
end

-- The record of one row: base64 data and its size in bytes (data plus partition key).
function M.record_of(st, row)
    local pk, text = row[st.pk_att], row[st.data_att]
    if pk == nil then not_null(st, st.rel.columns[st.pk_att].name) end
    if text == nil then not_null(st, st.data_name) end
    local nchars = shards.char_length(pk)
    if nchars < 1 or nchars > 256 then
        errors.raise{ sqlstate = "22001", message = format("a Kinesis partition key has 1 to 256 characters, not %d", nchars) }
    end
    local b64, raw_len
    if st.encode then
        b64 = st.encode(text).B
        local pad = b64:match("=*$")
        raw_len = #b64 / 4 * 3 - #pad
    else
        b64, raw_len = capi.base64_encode(text), #text
    end
    local size = raw_len + #pk
    if size > buffer.MAX_RECORD then
        errors.raise{ sqlstate = "54000", message = format("a Kinesis record can have at most %d bytes, this one has %d",
            buffer.MAX_RECORD, size), detail = "The size counts the data and the partition key." }
    end
    return { partition_key = pk, data = b64, size = size, explicit_hash_key = st.ehk_att and row[st.ehk_att] or nil }
end

function M.insert(st, level, new)
    local r = M.record_of(st, new)
    r.level, r.client, r.stream, r.ordered = level, st.client, st.stream, st.ordered
    buffer.add(r)
    buffer.bound()
    return new
end

-- What EXPLAIN of an INSERT shows (for an ExplainForeignModify that asks the mapping).
function M.explain_modify(rel)
    return { "Kinesis Stream", stream_name(rel), "Kinesis Records",
        format("buffered, sent with PutRecords at commit (at most %d records and %d MiB a request)",
            buffer.MAX_RECORDS, math.floor(buffer.MAX_BYTES / (1024 * 1024))) }
end

function M.update() errors.raise{ sqlstate = "0A000", message = "cannot update Kinesis records" } end
function M.delete() errors.raise{ sqlstate = "0A000", message = "cannot delete Kinesis records" } end

return M
