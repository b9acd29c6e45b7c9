-- What the Kinesis and DynamoDB Streams mappings share (streams/shards.lua): conditions that
-- choose shards and start positions, timestamps, shard order, text checks.
local T = require "testlib"
local cjson = require "cjson"
local shards = require "dynamo_lua_fdw.streams.shards"

local function rel(quals, cols)
    cols = cols or { { "shard_id", "text" }, { "sequence_number", "numeric" },
                     { "arrival_time", "timestamp with time zone" }, { "data", "text" } }
    local r = { relname = "t", columns = {}, quals = quals, nquals = #quals }
    for i, c in ipairs(cols) do r.columns[i] = { attnum = i, name = c[1], type = c[2], options = c[3] or {} } end
    return r
end

T.test("columns: known names (or the attribute option); others are an error listing the valid ones", function()
    local by = shards.columns(rel({}, { { "data", "text" }, { "key", "text", { attribute = "partition_key" } } }),
        { "partition_key", "data" }, "Kinesis")
    T.eq(by.partition_key.name, "key")
    T.eq(by.data.attnum, 1)
    T.raises(function() shards.columns(rel({}, { { "colour", "text" } }), { "data" }, "Kinesis") end,
        "42703", '"colour"', "Kinesis", "data")
end)

T.test("conditions: shard id equality or IN, sequence number and arrival time lower bounds", function()
    local r = rel({
        { index = 1, column = "shard_id", op = "=", func = "texteq", value = "shardId-1", collation = "default", deterministic = true },
        { index = 2, column = "sequence_number", op = ">", func = "numeric_gt", value = "42" },
        { index = 3, column = "arrival_time", op = ">=", func = "timestamptz_ge", param = 1, label = "$1" },
    })
    local params = {}
    local c = shards.conditions(r, shards.columns(r, { "shard_id", "sequence_number", "arrival_time", "data" }, "K"), params)
    T.eq(c.shard, { v = "shardId-1" })
    T.eq(c.seq, { op = ">", src = { v = "42" } })
    T.eq(c.ts, { op = ">=", src = { p = 1, label = "$1" } })
    T.eq(params, { 1 })
    r = rel({ { index = 1, column = "shard_id", op = "= ANY", func = "texteq", values = { "a", cjson.null } } })
    c = shards.conditions(r, shards.columns(r, { "shard_id", "sequence_number", "arrival_time", "data" }, "K"), {})
    T.eq(shards.values(c.shard, {}), { "a" })
end)

T.test("conditions: upper bounds, other functions and non-deterministic collations are not used", function()
    local r = rel({
        { index = 1, column = "sequence_number", op = "<", func = "numeric_lt", value = "42" },
        { index = 2, column = "arrival_time", op = ">", func = "timestamptz_gt_timestamp", value = "2024-01-01 00:00:00" },
        { index = 3, column = "shard_id", op = "=", func = "texteq", value = "x", collation = "ci", deterministic = false },
        { index = 4, column = "shard_id", op = "<>", func = "textne", value = "y" },
        { index = 5, column = "sequence_number", op = "=", func = "numeric_eq", value = cjson.null },
    })
    local c = shards.conditions(r, shards.columns(r, { "shard_id", "sequence_number", "arrival_time", "data" }, "K"), {})
    T.eq(c, {})
end)

T.test("parse_timestamptz reads ISO output text with any offset, and nothing else", function()
    T.eq(shards.parse_timestamptz("2024-01-15 10:00:00+00"), 1705312800)
    T.eq(shards.parse_timestamptz("2024-01-15 02:00:00-08"), 1705312800)
    T.eq(shards.parse_timestamptz("2024-01-15 15:30:00+05:30"), 1705312800)
    T.eq(shards.parse_timestamptz("2024-01-15T10:00:00.25Z"), 1705312800.25)
    T.eq(shards.parse_timestamptz("1900-01-01 00:00:00+00:09:21"), -2208989361)
    T.eq(shards.parse_timestamptz("Mon Jan 15 02:00:00 2024 PST"), nil)
    T.eq(shards.parse_timestamptz("15/01/2024 10:00:00 UTC"), nil)
    T.eq(shards.parse_timestamptz("infinity"), nil)
    T.eq(shards.parse_timestamptz("2024-01-15 10:00:00"), nil) -- no offset: not a timestamptz
    T.eq(shards.parse_timestamptz(nil), nil)
end)

T.test("epoch_text: UTC with milliseconds, rounded", function()
    T.eq(shards.epoch_text(1705312800), "2024-01-15 10:00:00.000+00")
    T.eq(shards.epoch_text(1795434221.105), "2026-11-23 11:43:41.105+00")
    T.eq(shards.epoch_text(0.0005), "1970-01-01 00:00:00.001+00")
    T.eq(shards.epoch_text(86399.9996), "1970-01-02 00:00:00.000+00")
end)

T.test("start_positions: sequence number, then timestamp (LATEST when in the future), then TRIM_HORIZON", function()
    local K = { seq = "StartingSequenceNumber", timestamps = true }
    local now = 1705312800
    T.eq(shards.start_positions({}, now, K), { { ShardIteratorType = "TRIM_HORIZON" } })
    T.eq(shards.start_positions({ seq = "42", seq_op = ">" }, now, K)[1],
        { ShardIteratorType = "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber = "42" })
    T.eq(shards.start_positions({ seq = "42", seq_op = ">=" }, now, K)[1].ShardIteratorType, "AT_SEQUENCE_NUMBER")
    T.eq(shards.start_positions({ seq = "42", seq_op = "=" }, now, K)[1].ShardIteratorType, "AT_SEQUENCE_NUMBER")
    T.eq(shards.start_positions({ ts = now - 3600 }, now, K)[1], { ShardIteratorType = "AT_TIMESTAMP", Timestamp = now - 3600 })
    -- near now: a minute early (services refuse future timestamps; their clocks differ)
    T.eq(shards.start_positions({ ts = now + 10 }, now, K)[1], { ShardIteratorType = "AT_TIMESTAMP", Timestamp = now - 60 })
    T.eq(shards.start_positions({ ts = now + 61 }, now, K)[1], { ShardIteratorType = "LATEST" })
    local both = shards.start_positions({ seq = "7", seq_op = ">", ts = now - 5000 }, now, K)
    T.eq(#both, 3)
    T.eq(both[2].ShardIteratorType, "AT_TIMESTAMP")
    -- DynamoDB Streams: SequenceNumber, and no timestamps
    local D = { seq = "SequenceNumber" }
    T.eq(shards.start_positions({ seq = "7", seq_op = ">", ts = now }, now, D),
        { { ShardIteratorType = "AFTER_SEQUENCE_NUMBER", SequenceNumber = "7" }, { ShardIteratorType = "TRIM_HORIZON" } })
end)

T.test("order_shards puts parents before their children, else keeps the listed order", function()
    local function ids(list)
        local out = {}
        for i, s in ipairs(list) do out[i] = s.ShardId end
        return out
    end
    T.eq(ids(shards.order_shards({
        { ShardId = "c", ParentShardId = "a", AdjacentParentShardId = "b" },
        { ShardId = "b" }, { ShardId = "a", ParentShardId = "gone" }, { ShardId = "d", ParentShardId = cjson.null } })),
        { "a", "b", "c", "d" })
    T.eq(ids(shards.order_shards({ { ShardId = "x" }, { ShardId = "y" } })), { "x", "y" })
    -- a cycle (never sent, but never a hang)
    T.eq(#shards.order_shards({ { ShardId = "p", ParentShardId = "q" }, { ShardId = "q", ParentShardId = "p" } }), 2)
end)

T.test("valid_text: UTF-8 without NUL; char_length counts characters", function()
    T.ok(shards.valid_text("plain"), "ascii")
    T.ok(shards.valid_text("héllo ✓ 😀"), "utf-8")
    T.ok(shards.valid_text(""), "empty")
    T.ok(not shards.valid_text("a\0b"), "NUL")
    T.ok(not shards.valid_text("\255"), "0xff")
    T.ok(not shards.valid_text("\195"), "cut short")
    T.ok(not shards.valid_text("\192\128"), "overlong")
    T.ok(not shards.valid_text("\237\160\128"), "surrogate")
    T.ok(not shards.valid_text("\244\144\128\128"), "past U+10FFFF")
    T.eq(shards.char_length("héllo ✓"), 7)
end)

T.test("is_sequence_number: digits only", function()
    T.ok(shards.is_sequence_number("49680489643969900813213919039305834472672106728466153474"), "kinesis")
    T.ok(not shards.is_sequence_number("1.5"), "decimal")
    T.ok(not shards.is_sequence_number("-1"), "negative")
    T.ok(not shards.is_sequence_number(""), "empty")
end)

T.test("rethrow gives a not-found error a hint about the stream; other errors pass as they are", function()
    local errors = require "dynamo_lua_fdw.errors"
    local ok, e = pcall(function()
        local _, raised = pcall(errors.raise, { sqlstate = "HV00R", message = "nf", aws_code = "ResourceNotFoundException", hint = "old" })
        shards.rethrow(raised, 'the stream "s"', "eu-west-1")
    end)
    T.ok(not ok, "raised")
    T.eq(e.hint, 'Check the stream "s", and that it exists in region "eu-west-1".')
    local _, e2 = pcall(shards.rethrow, "plain", "x", "r")
    T.eq(e2, "plain")
end)

T.test("DynamoDB stream images: an empty attribute value (DynamoDB Local's empty map) reads as {}", function()
    local ds = require "dynamo_lua_fdw.mappings.dynamodb_stream"
    local types = require "dynamo_lua_fdw.types"
    local img = cjson.decode('{"doc":{"M":{"l":{"L":[{}]},"m":{},"n":{"N":"1.50"}}},"id":{"S":"a"}}')
    T.eq(types.item_to_json(ds.repair(img)), '{"doc":{"l":[{}],"m":{},"n":1.50},"id":"a"}')
end)

T.test("DynamoDB stream sequence numbers are padded as the shard pads them (a numeric column drops zeros)", function()
    local ds = require "dynamo_lua_fdw.mappings.dynamodb_stream"
    local local_shard = { SequenceNumberRange = { StartingSequenceNumber = "000000000000000000001" } }
    T.eq(ds.shard_sequence_number("3", local_shard), "000000000000000000003")
    local aws_shard = { SequenceNumberRange = { StartingSequenceNumber = "4421584500000000017450439091" } }
    T.eq(ds.shard_sequence_number("4421584500000000017450439099", aws_shard), "4421584500000000017450439099")
    T.eq(ds.shard_sequence_number("3", {}), "3")
end)
