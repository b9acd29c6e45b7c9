-- The Kinesis record buffer: batching by count, bytes and partition key; savepoints; sending
-- with partial failures (only the failed records again, in order); the mapping's record checks.
local T = require "testlib"
local capi = require "dynamo_lua_fdw.capi"
local buffer = require "dynamo_lua_fdw.kinesis.buffer"
local kinesis = require "dynamo_lua_fdw.mappings.kinesis"

local function rec(key, size, ordered, level)
    return { partition_key = key, size = size or 10, ordered = ordered ~= false, level = level or 1,
             data = capi.base64_encode(key), stream = "s" }
end

local function keys(batch)
    local out = {}
    for i, r in ipairs(batch) do out[i] = r.partition_key end
    return out
end

T.test("batches: at most 500 records a request", function()
    local records = {}
    for i = 1, 1000 do records[i] = rec("k" .. i) end
    local b = buffer.batches(records)
    T.eq(#b, 2)
    T.eq(#b[1], 500); T.eq(#b[2], 500)
    T.eq(b[2][1].partition_key, "k501")
    records[1001] = rec("k1001")
    T.eq(#buffer.batches(records), 3)
end)

T.test("batches: at most 5 MiB of data and keys a request", function()
    local mib = 1024 * 1024
    local records = {}
    for i = 1, 11 do records[i] = rec("k" .. i, mib) end -- 11 MiB: 5 + 5 + 1
    local b = buffer.batches(records)
    T.eq(#b, 3)
    T.eq({ #b[1], #b[2], #b[3] }, { 5, 5, 1 })
    -- exactly 5 MiB fits; one byte more does not
    T.eq(#buffer.batches({ rec("a", 5 * mib - 1), rec("b", 1) }), 1)
    T.eq(#buffer.batches({ rec("a", 5 * mib - 1), rec("b", 2) }), 2)
end)

T.test("batches: a repeated partition key starts a new request unless ordering is none", function()
    T.eq(#buffer.batches({ rec("a"), rec("b"), rec("a"), rec("c") }), 2)
    T.eq(keys(buffer.batches({ rec("a"), rec("b"), rec("a"), rec("c") })[2]), { "a", "c" })
    T.eq(#buffer.batches({ rec("a", 10, false), rec("a", 10, false), rec("a", 10, false) }), 1)
    T.eq(#buffer.batches({}), 0)
end)

T.test("failures: the failed records in order, and whether one is not worth retrying", function()
    local batch = { rec("a"), rec("b"), rec("c") }
    local failed, fatal, first = buffer.failures(batch, { FailedRecordCount = 2, Records = {
        { ErrorCode = "ProvisionedThroughputExceededException", ErrorMessage = "slow down" },
        { SequenceNumber = "1", ShardId = "shardId-000000000000" },
        { ErrorCode = "InternalFailure" } } })
    T.eq(keys(failed), { "a", "c" })
    T.eq(fatal, nil)
    T.eq(first.code, "ProvisionedThroughputExceededException")
    local _, fatal2 = buffer.failures({ rec("a") }, { Records = { { ErrorCode = "KMSAccessDeniedException" } } })
    T.eq(fatal2.code, "KMSAccessDeniedException")
    T.raises(function() buffer.failures(batch, { Records = { {} } }) end, "malformed", "PutRecords")
end)

-- A stand-in client answering PutRecords from a script of per-record outcomes.
local function fake_client(script)
    local c = { endpoint = "http://kinesis", region = "r", max_retries = 3, stats = { throttled = 0 }, sent = {} }
    function c.call(self, op, params)
        T.eq(op, "PutRecords")
        self.sent[#self.sent + 1] = params
        local answer = table.remove(script, 1)
        if type(answer) == "function" then return answer(params) end
        local results, failed = {}, 0
        for i, r in ipairs(params.Records) do
            local bad = answer and answer[capi.base64_decode(r.Data)]
            if bad then
                failed = failed + 1
                results[i] = { ErrorCode = bad, ErrorMessage = "no" }
            else
                results[i] = { SequenceNumber = tostring(i), ShardId = "shardId-000000000000" }
            end
        end
        return { FailedRecordCount = failed, Records = results }
    end
    return c
end

local function add(client, key, level, stream)
    local r = rec(key, 10, true, level)
    r.client, r.stream = client, stream or "s"
    buffer.add(r)
end

local function sent_keys(client)
    local out = {}
    for i, p in ipairs(client.sent) do
        local ks = {}
        for j, r in ipairs(p.Records) do ks[j] = capi.base64_decode(r.Data) end
        out[i] = table.concat(ks, ",")
    end
    return out
end

T.test("flush retries only the failed records, in order, with backoff, then empties the buffer", function()
    buffer.discard()
    capi.slept = {}
    local c = fake_client({ { b = "ProvisionedThroughputExceededException", d = "InternalFailure" }, { d = "InternalFailure" } })
    for _, k in ipairs({ "a", "b", "c", "d" }) do add(c, k) end
    buffer.flush()
    T.eq(sent_keys(c), { "a,b,c,d", "b,d", "d" })
    T.eq(#capi.slept, 2)
    T.eq(buffer.pending(), 0)
    T.eq(c.sent[1].StreamName, "s")
end)

T.test("flush gives up after max_retries, saying how many records went out", function()
    buffer.discard()
    local c = fake_client({ { b = "InternalFailure" }, { b = "InternalFailure" }, { b = "InternalFailure" }, { b = "InternalFailure" } })
    for _, k in ipairs({ "a", "b", "c" }) do add(c, k) end
    local e = T.raises(function() buffer.flush() end, "53000", "refused 1 records after 4 attempts", "InternalFailure",
        "2 of 3 buffered Kinesis records were sent")
    T.eq(#c.sent, 4) -- the first try and max_retries (3) retries
    T.ok(e.hint:find("max_retries", 1, true), "hint")
    buffer.discard()
end)

T.test("a record error that a retry cannot fix fails at once", function()
    buffer.discard()
    local c = fake_client({ { a = "KMSAccessDeniedException" } })
    add(c, "a"); add(c, "b")
    T.raises(function() buffer.flush() end, "HV000", "KMSAccessDeniedException", "1 of 2 buffered")
    T.eq(#c.sent, 1)
    buffer.discard()
end)

T.test("a request that fails names the stream and what was sent before it", function()
    buffer.discard()
    local errors = require "dynamo_lua_fdw.errors"
    local c = fake_client({ {}, function() errors.raise{ sqlstate = "HV00R", message = "Stream s not found",
        aws_code = "ResourceNotFoundException" } end })
    for i = 1, 501 do add(c, "k" .. i) end
    T.raises(function() buffer.flush() end, 'Kinesis stream "s"', "500 of 501 buffered", "region")
    buffer.discard()
end)

T.test("records go per stream, each stream's in order; a repeated key waits for the next request", function()
    buffer.discard()
    local c = fake_client({})
    add(c, "a", 1, "s1"); add(c, "b", 1, "s2"); add(c, "a", 1, "s1"); add(c, "c", 1, "s1")
    buffer.flush()
    T.eq(sent_keys(c), { "a", "a,c", "b" })
    T.eq({ c.sent[1].StreamName, c.sent[2].StreamName, c.sent[3].StreamName }, { "s1", "s1", "s2" })
end)

T.test("savepoints: ROLLBACK TO drops the records at or above its level, RELEASE keeps them", function()
    buffer.discard()
    local c = fake_client({})
    add(c, "a", 1); add(c, "b", 2); add(c, "c", 3)
    buffer.commit_sub(3)   -- RELEASE of level 3: c belongs to level 2 now
    buffer.abort_sub(2)    -- ROLLBACK TO the savepoint of level 2
    T.eq(buffer.pending(), 1)
    add(c, "d", 2)
    buffer.commit_sub(2)
    buffer.flush()
    T.eq(sent_keys(c), { "a,d" })
end)

T.test("the buffer lives among the scan states, which C empties at every transaction end", function()
    buffer.discard()
    add(fake_client({}), "a")
    T.eq(buffer.pending(), 1)
    capi.persistent().states = {} -- what src/lua_host.c does after COMMIT or ROLLBACK
    T.eq(buffer.pending(), 0)
end)

T.test("PREPARE TRANSACTION refuses buffered records", function()
    buffer.discard()
    buffer.pre_prepare()
    add(fake_client({}), "a")
    T.raises(function() buffer.pre_prepare() end, "0A000", "Kinesis")
    buffer.discard()
end)

T.test("past its bounds the buffer is sent before commit, with a warning", function()
    buffer.discard()
    capi.logged = {}
    local old = buffer.BUFFER_RECORDS
    buffer.BUFFER_RECORDS = 3
    local c = fake_client({})
    for _, k in ipairs({ "a", "b", "c" }) do add(c, k); buffer.bound() end
    T.eq(#c.sent, 0)
    add(c, "d"); buffer.bound()
    T.eq(sent_keys(c), { "a,b,c,d" })
    T.eq(capi.logged[#capi.logged].level, "WARNING")
    buffer.BUFFER_RECORDS = old
end)

-- the mapping's checks of one row
local st = { rel = { relname = "events", columns = { { name = "partition_key" }, { name = "data" } } },
             pk_att = 1, data_att = 2, data_name = "data" }

T.test("a record: base64 data, size of data and key; limits of key and size", function()
    local r = kinesis.record_of(st, { "k", "héllo" })
    T.eq(r.partition_key, "k")
    T.eq(capi.base64_decode(r.data), "héllo")
    T.eq(r.size, 1 + 6)
    T.eq(kinesis.record_of(st, { "k", "" }).size, 1)
    T.eq(kinesis.record_of(st, { string.rep("é", 256), "x" }).size, 513) -- 256 characters, 512 bytes
    T.raises(function() kinesis.record_of(st, { string.rep("k", 257), "x" }) end, "22001", "not 257")
    T.raises(function() kinesis.record_of(st, { "", "x" }) end, "22001", "not 0")
    T.raises(function() kinesis.record_of(st, { nil, "x" }) end, "23502", "partition_key")
    T.raises(function() kinesis.record_of(st, { "k", nil }) end, "23502", '"data"')
    T.raises(function() kinesis.record_of(st, { "k", string.rep("x", 1024 * 1024) }) end, "54000", "1048577")
end)

T.test("a bytea record: the bytes themselves, their size", function()
    local columns = require "dynamo_lua_fdw.columns"
    local bst = setmetatable({ encode = columns.encoder({ name = "data", type = "bytea", options = {} }) }, { __index = st })
    local r = kinesis.record_of(bst, { "k", "\\x00ff10" })
    T.eq(capi.base64_decode(r.data), "\0\255\16")
    T.eq(r.size, 4)
    T.eq(kinesis.record_of(bst, { "k", "\\x" }).size, 1)
    T.eq(kinesis.record_of(bst, { "k", "\\x0001" }).size, 3)
end)

T.test("EXPLAIN of an INSERT names the stream and how records are sent", function()
    local out = kinesis.explain_modify({ relname = "events", table = { stream = "s1" } })
    T.eq(out, { "Kinesis Stream", "s1", "Kinesis Records",
        "buffered, sent with PutRecords at commit (at most 500 records and 5 MiB a request)" })
end)

T.test("a scan ends a shard whose records arrived long after the scan began", function()
    T.ok(not kinesis.past_scan_start({ { ApproximateArrivalTimestamp = 1000 } }, 1000), "at the start")
    T.ok(not kinesis.past_scan_start({ { ApproximateArrivalTimestamp = 1000 + kinesis.LATE_ARRIVAL } }, 1000), "within the margin")
    T.ok(kinesis.past_scan_start({ { ApproximateArrivalTimestamp = 1 }, { ApproximateArrivalTimestamp = 1301.5 } }, 1000), "past it")
    T.ok(not kinesis.past_scan_start({ {} }, 1000), "no timestamp")
end)
