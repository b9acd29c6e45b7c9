-- A DynamoDB table's stream as a foreign table: OPTIONS (mapping 'dynamodb_stream', table 'Name')
-- (the table's latest stream, from DescribeTable) or OPTIONS (mapping 'dynamodb_stream', stream '<ARN>').
--
--   CREATE FOREIGN TABLE orders_changes (shard_id text, sequence_number numeric, event_name text,
--       keys jsonb, new_image jsonb, old_image jsonb) SERVER dynamodb_server
--       OPTIONS (mapping 'dynamodb_stream', table 'Orders');
--
-- SELECT lists the shards (DescribeStream), parents first, and reads each one
-- (GetShardIterator from TRIM_HORIZON, or from a sequence number the conditions give;
-- GetRecords until the shard has nothing more now). Images are JSON, lossless (numbers
-- keep every digit). Read-only.
local errors = require "dynamo_lua_fdw.errors"
local types = require "dynamo_lua_fdw.types"
local client_mod = require "dynamo_lua_fdw.aws.client"
local endpoint = require "dynamo_lua_fdw.aws.endpoint"
local capi = require "dynamo_lua_fdw.capi"
local shards = require "dynamo_lua_fdw.streams.shards"

local format = string.format

local M = {}

M.COLUMNS = { "shard_id", "sequence_number", "event_id", "event_name", "approximate_creation_time",
              "keys", "new_image", "old_image", "size_bytes", "stream_view_type" }
M.GET_RECORDS_LIMIT = 1000 -- GetRecords' own maximum
-- An open shard may answer an empty page before records further on (AWS documents this);
-- after this many empty pages in a row it is taken as read to its end.
M.OPEN_SHARD_EMPTY_PAGES = 3
-- Records created this many seconds after the scan began end a shard (a table written to
-- without pause could keep a scan reading; the margin is for the service's clock).
M.LATE_ARRIVAL = 300

local function copy(t)
    local out = {}
    for k, v in pairs(t or {}) do out[k] = v end
    return out
end

-- The Streams endpoint: the server option endpoint (DynamoDB Local serves both), else
-- AWS_ENDPOINT_URL_DYNAMODB_STREAMS, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, else
-- https://streams.dynamodb.<region>.amazonaws.com. Requests are signed for "dynamodb".
local function streams_client(rel)
    local so = copy(rel.server.options)
    if not endpoint.nonempty(so.endpoint) then
        so.endpoint = endpoint.env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") or endpoint.env("AWS_ENDPOINT_URL_DYNAMODB")
            or endpoint.env("AWS_ENDPOINT_URL")
            or endpoint.default_url("streams.dynamodb", (endpoint.region{ server_options = so }))
    end
    return client_mod.new{ server_options = so, user_options = rel.user, service = "dynamodb",
        service_name = "DynamoDB Streams", target_prefix = "DynamoDBStreams_20120810" }
end

local function source_of(rel)
    local arn, tbl = rel.table.stream, rel.table.table
    if (not arn or arn == "") and (not tbl or tbl == "") then
        errors.raise{ sqlstate = "HV00D", message = format('foreign table "%s" names no DynamoDB table or stream', rel.relname),
            hint = "Add the table option table (the table's latest stream) or stream (a stream ARN)." }
    end
    return arn ~= "" and arn or nil, tbl
end

function M.plan_scan(rel)
    local arn, tbl = source_of(rel)
    local by = shards.columns(rel, M.COLUMNS, "DynamoDB stream")
    local params = {}
    local cond = rel.pushdown and shards.conditions(rel, by, params) or {}
    if cond.seq and by.sequence_number.type ~= "numeric" then cond.seq = nil end
    if cond.seq and cond.seq.src.v and not shards.is_sequence_number(cond.seq.src.v) then cond.seq = nil end
    local rows = cond.shard and 100 or 1000
    return {
        plan = { arn = arn, table = tbl, shard = cond.shard, seq = cond.seq,
                 needed = not rel.needed_all and rel.needed or nil },
        params = params, rows = rows, startup_cost = 100, total_cost = 100 + rows * 2,
    }
end

function M.explain(plan, verbose, st)
    local out = { "DynamoDB Stream", plan.arn or ("latest of table " .. plan.table),
        "DynamoDB Stream Shards", plan.shard and ("shard_id = " .. shards.source_text(plan.shard)) or "all",
        "DynamoDB Stream Start", plan.seq and ((plan.seq.op == ">" and "AFTER_SEQUENCE_NUMBER" or "AT_SEQUENCE_NUMBER")
            .. " (sequence_number " .. plan.seq.op .. " " .. shards.source_text(plan.seq.src) .. "), else TRIM_HORIZON")
            or "TRIM_HORIZON" }
    if verbose then
        out[#out + 1] = "DynamoDB Stream Requests"
        out[#out + 1] = (plan.arn and "" or "DescribeTable; ") .. "DescribeStream; per shard GetShardIterator, "
            .. "then GetRecords (Limit " .. M.GET_RECORDS_LIMIT .. ") until the shard ends or a page is empty"
    end
    if st then shards.explain_counts(out, "DynamoDB Stream", st) end
    return out
end

local function start(st, params)
    st.start = {}
    if st.plan.seq then
        local v = shards.values(st.plan.seq.src, params)[1]
        if v and shards.is_sequence_number(v) then st.start.seq, st.start.seq_op = v, st.plan.seq.op end
    end
    st.wanted = shards.wanted(st.plan, params)
    st.list, st.shard_i, st.iterator, st.empty = nil, 0, nil, 0
    st.began = capi.now()
end

function M.begin_scan(plan, rel, params)
    local st = { plan = plan, rel = rel, natts = #rel.columns, client = streams_client(rel),
                 shards_read = 0, requests = 0, records = 0, iterator_types = {},
                 readers = shards.readers(rel, plan, M.COLUMNS, "DynamoDB stream") }
    start(st, params)
    return st
end

function M.rescan(st, params) start(st, params) end

local function call(st, client, op, params, what)
    st.requests = st.requests + 1
    local ok, resp = pcall(client.call, client, op, params)
    if not ok then shards.rethrow(resp, what, client.region) end
    return resp
end

-- The stream's ARN: the option, or the table's latest stream.
local function stream_arn(st)
    if st.plan.arn then return st.plan.arn end
    local ddb = client_mod.new{ server_options = st.rel.server.options, user_options = st.rel.user }
    local resp = call(st, ddb, "DescribeTable", { TableName = st.plan.table },
        format('the DynamoDB table "%s" (table option table)', st.plan.table))
    local t = type(resp.Table) == "table" and resp.Table or errors.malformed("DescribeTable", "has no Table")
    local arn = t.LatestStreamArn
    local spec = type(t.StreamSpecification) == "table" and t.StreamSpecification or {}
    if type(arn) ~= "string" or spec.StreamEnabled == false then
        errors.raise{ sqlstate = "55000", message = format('DynamoDB table "%s" has no stream', st.plan.table),
            detail = type(arn) == "string" and "Its latest stream is disabled." or nil,
            hint = "Enable one: UpdateTable with StreamSpecification {StreamEnabled: true, StreamViewType: NEW_AND_OLD_IMAGES}." }
    end
    return arn
end

local function list_shards(st)
    st.arn = stream_arn(st)
    local all, last = {}, nil
    repeat
        local resp = call(st, st.client, "DescribeStream", { StreamArn = st.arn, ExclusiveStartShardId = last },
            format('the stream "%s"', st.arn))
        local d = type(resp.StreamDescription) == "table" and resp.StreamDescription
            or errors.malformed("DescribeStream", "has no StreamDescription")
        for _, s in ipairs(type(d.Shards) == "table" and d.Shards or {}) do all[#all + 1] = s end
        last = type(d.LastEvaluatedShardId) == "string" and d.LastEvaluatedShardId or nil
    until not last
    local out = {}
    for _, s in ipairs(shards.order_shards(all)) do
        if not st.wanted or st.wanted[s.ShardId] then out[#out + 1] = s end
    end
    return out
end

-- Errors that say a sequence number does not fit this shard: start it otherwise.
local REFUSED = { ValidationException = true, TrimmedDataAccessException = true, InvalidArgumentException = true }

-- A sequence number as this shard writes them: DynamoDB Local pads them with zeros
-- ("000000000000000000003"), which a numeric column drops.
function M.shard_sequence_number(seq, shard)
    local range = type(shard.SequenceNumberRange) == "table" and shard.SequenceNumberRange or {}
    local first = range.StartingSequenceNumber
    if type(first) == "string" and first:sub(1, 1) == "0" and #seq < #first then
        return string.rep("0", #first - #seq) .. seq
    end
    return seq
end

local function iterator(st, shard)
    local start = st.start
    if start.seq then
        start = { seq = M.shard_sequence_number(start.seq, shard), seq_op = start.seq_op }
    end
    local positions = shards.start_positions(start, capi.now(), { seq = "SequenceNumber" })
    for i, pos in ipairs(positions) do
        local req = { StreamArn = st.arn, ShardId = shard.ShardId }
        for k, v in pairs(pos) do req[k] = v end
        st.requests = st.requests + 1
        local ok, resp = pcall(st.client.call, st.client, "GetShardIterator", req)
        if not ok and (i == #positions or not errors.is_structured(resp) or not REFUSED[resp.aws_code]) then
            shards.rethrow(resp, format('the stream "%s"', st.arn), st.client.region)
        end
        if ok then
            if type(resp.ShardIterator) ~= "string" then errors.malformed("GetShardIterator", "has no ShardIterator") end
            st.iterator_types[pos.ShardIteratorType] = (st.iterator_types[pos.ShardIteratorType] or 0) + 1
            return resp.ShardIterator
        end
    end
end

-- DynamoDB Local writes an empty map as {} instead of {"M": {}} in stream images; no real
-- attribute value is empty, so {} is read as the empty map.
function M.repair(map)
    for k, av in pairs(map) do
        if type(av) == "table" then
            if next(av) == nil then
                map[k] = { M = {} }
            elseif type(av.M) == "table" then
                M.repair(av.M)
            elseif type(av.L) == "table" then
                M.repair(av.L)
            end
        end
    end
    return map
end

local function image(m)
    if type(m) ~= "table" then return nil end
    return types.item_to_json(M.repair(m))
end

local function number_text(n)
    if type(n) ~= "number" then return nil end
    return n == math.floor(n) and format("%d", n) or format("%.17g", n)
end

local function row_values(st, shard_id, rec, values, base)
    local d = type(rec.dynamodb) == "table" and rec.dynamodb or {}
    for _, r in ipairs(st.readers) do
        local v, n = nil, r.name
        if n == "shard_id" then v = shard_id
        elseif n == "sequence_number" then v = d.SequenceNumber
        elseif n == "event_id" then v = rec.eventID
        elseif n == "event_name" then v = rec.eventName
        elseif n == "approximate_creation_time" then
            v = type(d.ApproximateCreationDateTime) == "number" and shards.epoch_text(d.ApproximateCreationDateTime) or nil
        elseif n == "keys" then v = image(d.Keys)
        elseif n == "new_image" then v = image(d.NewImage)
        elseif n == "old_image" then v = image(d.OldImage)
        elseif n == "size_bytes" then v = number_text(d.SizeBytes)
        elseif n == "stream_view_type" then v = d.StreamViewType
        end
        values[base + r.attnum] = type(v) == "string" and v or nil
    end
end

function M.fetch(st)
    if not st.list then st.list = list_shards(st) end
    while true do
        if not st.iterator then
            st.shard_i = st.shard_i + 1
            local shard = st.list[st.shard_i]
            if not shard then return nil, 0 end
            st.shards_read, st.empty = st.shards_read + 1, 0
            st.iterator = iterator(st, shard)
        end
        local shard = st.list[st.shard_i]
        local resp = call(st, st.client, "GetRecords", { ShardIterator = st.iterator, Limit = M.GET_RECORDS_LIMIT },
            format('the stream "%s"', st.arn))
        local recs = type(resp.Records) == "table" and resp.Records or errors.malformed("GetRecords", "has no Records")
        st.iterator = type(resp.NextShardIterator) == "string" and resp.NextShardIterator or nil
        local range = type(shard.SequenceNumberRange) == "table" and shard.SequenceNumberRange or {}
        -- a closed shard ends with no next iterator; an open one when it keeps answering empty pages
        st.empty = #recs == 0 and st.empty + 1 or 0
        if range.EndingSequenceNumber == nil and st.empty >= M.OPEN_SHARD_EMPTY_PAGES then st.iterator = nil end
        local last = recs[#recs]
        local created = type(last) == "table" and type(last.dynamodb) == "table" and tonumber(last.dynamodb.ApproximateCreationDateTime)
        if created and created > st.began + M.LATE_ARRIVAL then st.iterator = nil end
        if #recs > 0 then
            return shards.page_rows(st, shard.ShardId, recs, row_values,
                function(rec) return type(rec.dynamodb) == "table" and rec.dynamodb.SequenceNumber end)
        end
        capi.check_interrupts()
    end
end

function M.end_scan() end

function M.begin_modify(rel)
    errors.raise{ sqlstate = "0A000", message = format('foreign table "%s" is a DynamoDB stream and cannot be changed', rel.relname),
        detail = "Stream records are written by DynamoDB itself.", hint = "Change the table the stream belongs to." }
end
M.insert, M.update, M.delete = M.begin_modify, M.begin_modify, M.begin_modify

return M
