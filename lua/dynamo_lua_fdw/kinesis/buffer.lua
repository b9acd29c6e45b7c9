-- The transaction's Kinesis records: INSERTs into Kinesis tables (and so the change
-- capture trigger) append here, and the records go out at COMMIT with PutRecords.
-- Each record carries the subtransaction level that made it, so ROLLBACK TO SAVEPOINT
-- drops exactly those; ROLLBACK drops them all.
--
-- The buffer lives in capi.persistent().states: C empties that table after every
-- top-level commit or abort itself (src/lua_host.c), so the records of a rolled-back
-- transaction can never reach a later COMMIT, even if no script runs at the abort.
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local retry = require "dynamo_lua_fdw.aws.retry"

local format = string.format

local M = {}

M.MAX_RECORDS = 500             -- PutRecords: records per request
M.MAX_BYTES = 5 * 1024 * 1024   -- PutRecords: data and partition keys per request
M.MAX_RECORD = 1024 * 1024      -- one record's data and partition key
-- Past these, records are sent before commit (memory stays bounded), with a WARNING.
M.BUFFER_RECORDS = 50000
M.BUFFER_BYTES = 64 * 1024 * 1024

local KEY = "kinesis_buffer" -- a string key: scan states use integer handles

local function buffer()
    local P = capi.persistent()
    P.states = P.states or {}
    local b = P.states[KEY]
    if not b then
        b = { records = {}, bytes = 0 }
        P.states[KEY] = b
    end
    return b
end

-- add{level=, client=, stream=, partition_key=, data=<base64>, size=<raw data + key bytes>,
--     explicit_hash_key=, ordered=<keep per-key order: never two records of a key in a request>}
function M.add(r)
    local b = buffer()
    b.records[#b.records + 1] = r
    b.bytes = b.bytes + r.size
end

function M.pending() return #buffer().records end

function M.discard()
    local P = capi.persistent()
    if P.states then P.states[KEY] = nil end
end

-- ROLLBACK TO SAVEPOINT: drop the records made at or above the savepoint's level.
function M.abort_sub(level)
    local b, kept, bytes = buffer(), {}, 0
    for _, r in ipairs(b.records) do
        if r.level < level then
            kept[#kept + 1] = r
            bytes = bytes + r.size
        end
    end
    b.records, b.bytes = kept, bytes
end

-- RELEASE SAVEPOINT: the records now belong to the parent.
function M.commit_sub(level)
    for _, r in ipairs(buffer().records) do
        if r.level >= level then r.level = level - 1 end
    end
end

function M.pre_prepare()
    if M.pending() > 0 then
        errors.raise{ sqlstate = "0A000",
            message = "cannot prepare a transaction that has buffered Kinesis records",
            detail = "Kinesis takes no part in two-phase commit." }
    end
end

---------------------------------------------------------------------------
-- pure parts (t/lua/test_kinesis.lua)
---------------------------------------------------------------------------

-- Records per target, in the order each target first appears; order within a target kept.
function M.by_stream(records)
    local groups, order = {}, {}
    for _, r in ipairs(records) do
        local id = r.client.endpoint .. "\0" .. r.client.region .. "\0" .. r.stream
        local g = groups[id]
        if not g then
            g = { client = r.client, stream = r.stream, records = {} }
            groups[id] = g
            order[#order + 1] = g
        end
        g.records[#g.records + 1] = r
    end
    return order
end

-- Splits records (in order) into PutRecords requests: at most max_records and max_bytes
-- each; and where a record asks for it (ordered), never two records of one partition key
-- in a request — a retry of the failed records of a request could otherwise put a record
-- after a later one of its key.
function M.batches(records, max_records, max_bytes)
    max_records, max_bytes = max_records or M.MAX_RECORDS, max_bytes or M.MAX_BYTES
    local out, cur, bytes, keys = {}, {}, 0, {}
    for _, r in ipairs(records) do
        if #cur > 0 and (#cur >= max_records or bytes + r.size > max_bytes
                or (r.ordered and keys[r.partition_key])) then
            out[#out + 1] = cur
            cur, bytes, keys = {}, 0, {}
        end
        cur[#cur + 1] = r
        bytes = bytes + r.size
        keys[r.partition_key] = true
    end
    if #cur > 0 then out[#out + 1] = cur end
    return out
end

-- Per-record error codes worth retrying: the shard's throughput, and the service's own failures.
function M.retryable_code(code)
    return code == "ProvisionedThroughputExceededException" or code == "InternalFailure"
        or code == "KMSThrottlingException" or code == "ServiceUnavailable"
end

-- The records of a request that failed, per PutRecords' answer (same order as sent):
-- returns failed, first non-retryable {code=, message=} or nil, first error seen.
function M.failures(batch, resp)
    local results = type(resp) == "table" and resp.Records
    if type(results) ~= "table" or #results ~= #batch then
        errors.malformed("PutRecords", string.format("has %s results for %d records",
            type(results) == "table" and tostring(#results) or "no", #batch))
    end
    local failed, fatal, first = {}, nil, nil
    for i, res in ipairs(results) do
        local code = type(res) == "table" and res.ErrorCode
        if code and code ~= require("cjson").null then
            failed[#failed + 1] = batch[i]
            local e = { code = tostring(code), message = type(res.ErrorMessage) == "string" and res.ErrorMessage or nil }
            first = first or e
            if not fatal and not M.retryable_code(e.code) then fatal = e end
        end
    end
    return failed, fatal, first
end

---------------------------------------------------------------------------
-- sending
---------------------------------------------------------------------------

local function request_of(stream, batch)
    local recs = {}
    for i, r in ipairs(batch) do
        recs[i] = { Data = r.data, PartitionKey = r.partition_key, ExplicitHashKey = r.explicit_hash_key }
    end
    return { StreamName = stream, Records = recs }
end

-- What was sent before a failure, for the error's detail.
local function progress(sent, total)
    return format("%d of %d buffered Kinesis records were sent before the failure; the others were not. "
        .. "Records already sent cannot be recalled.", sent, total)
end

-- Sends one request's records, retrying the failed ones (only those) with backoff.
-- Returns the count of records the stream accepted.
local function send_batch(g, batch, sent, total)
    local client, attempt, pending = g.client, 0, batch
    while true do
        local ok, resp = pcall(client.call, client, "PutRecords", request_of(g.stream, pending))
        if not ok then
            if not errors.is_structured(resp) then error(resp, 0) end -- cancel, PostgreSQL errors
            resp.message = format('could not send records to Kinesis stream "%s": %s', g.stream, resp.message)
            resp.detail = progress(sent + #batch - #pending, total) .. (resp.detail and (" " .. resp.detail) or "")
            if resp.aws_code == "ResourceNotFoundException" then
                resp.hint = format('Check the stream option of the Kinesis table, and that the stream exists in region "%s".',
                    tostring(client.region))
            end
            error(resp, 0)
        end
        local failed, fatal, first = M.failures(pending, resp)
        if #failed == 0 then return #batch end
        attempt = attempt + 1
        if fatal or attempt > client.max_retries then
            local e = fatal or first
            errors.raise{ sqlstate = fatal and "HV000" or "53000",
                message = format('Kinesis stream "%s" refused %d records%s: %s%s', g.stream, #failed,
                    fatal and "" or format(" after %d attempts", attempt), e.code,
                    e.message and (" (" .. e.message .. ")") or ""),
                detail = progress(sent + #batch - #failed, total),
                hint = fatal and "Check the stream's encryption key and the credentials' permissions."
                    or "Raise the server option max_retries, or add shards to the stream." }
        end
        client.stats.throttled = (client.stats.throttled or 0) + 1
        capi.log("DEBUG1", format("Kinesis PutRecords: %d of %d records failed (%s); retry %d", #failed,
            #pending, first.code, attempt))
        capi.sleep(retry.backoff_ms(attempt))
        pending = failed
    end
end

-- Sends every buffered record (or raises, which aborts the transaction) and empties the buffer.
function M.flush()
    local b = buffer()
    local records = b.records
    if #records == 0 then return end
    local sent, total = 0, #records
    for _, g in ipairs(M.by_stream(records)) do
        for _, batch in ipairs(M.batches(g.records)) do
            sent = sent + send_batch(g, batch, sent, total)
            capi.check_interrupts()
        end
    end
    b.records, b.bytes = {}, 0
end

-- Sends the buffer before commit when it has grown past its bounds; a ROLLBACK cannot undo that.
function M.bound()
    local b = buffer()
    if #b.records <= M.BUFFER_RECORDS and b.bytes <= M.BUFFER_BYTES then return end
    capi.log("WARNING", format("%d Kinesis records (%d bytes) are buffered; sending them before commit",
        #b.records, b.bytes),
        "A ROLLBACK can no longer recall them. Commit in smaller transactions.")
    M.flush()
end

return M
