-- write_concurrency: BatchWriteItem chunks in flight together, finished in order, UnprocessedItems
-- retried per chunk, single requests waiting for every chunk before them, and what a failure reports.
local T = require "testlib"
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local aws_errors = require "dynamo_lua_fdw.aws.errors"
local writes = require "dynamo_lua_fdw.writes"

-- A client of start/finish whose answers come from answer(n, op, params) for the n-th request:
-- nil = success, {unprocessed = k} = the last k requests come back unprocessed, {error = ctx}.
local log, in_flight, max_in_flight, applied, answer
local client = { endpoint = "http://stub", region = "r", max_retries = 3, stats = { throttled = 0 },
    opts = { server_options = {} } }
local seq = 0
function client:start(op, params)
    seq = seq + 1
    in_flight = in_flight + 1
    max_in_flight = math.max(max_in_flight, in_flight)
    log[#log + 1] = "start " .. seq
    return { n = seq, op = op, params = params }
end
function client:finish(p)
    in_flight = in_flight - 1
    log[#log + 1] = "finish " .. p.n
    local a = answer(p.n, p.op, p.params) or {}
    if a.error then
        a.error.service_name, a.error.operation = "DynamoDB", p.op
        errors.raise(aws_errors.build(a.error))
    end
    local reqs = p.op == "BatchWriteItem" and p.params.RequestItems.t or {}
    local keep = #reqs - (a.unprocessed or 0)
    for i = 1, keep do
        local k = reqs[i].PutRequest.Item.k.S
        applied[k] = (applied[k] or 0) + 1
    end
    if (a.unprocessed or 0) == 0 then return { UnprocessedItems = {} } end
    local rest = {}
    for i = keep + 1, #reqs do rest[#rest + 1] = reqs[i] end
    return { UnprocessedItems = { t = rest } }
end
function client:call(op, params) return self:finish(self:start(op, params)) end

local function put(key, concurrency)
    return { level = 1, client = client, table = "t", key = key, describe = key, put = { k = { S = key } },
        concurrency = concurrency }
end

-- Flushes n puts (plus `extra` entries after them); returns ok, err.
local function flush(n, opts)
    opts = opts or {}
    log, in_flight, max_in_flight, applied, seq = {}, 0, 0, {}, 0
    answer = opts.answer or function() end
    client.opts.server_options.write_concurrency = opts.server
    writes.discard()
    for i = 1, n do writes.add(put("k" .. i, opts.table)) end
    for _, e in ipairs(opts.extra or {}) do writes.add(e) end
    capi.slept = {}
    local ok, err = pcall(writes.flush)
    writes.discard()
    client.opts.server_options.write_concurrency = nil
    return ok, err
end

local function all_once(n)
    for i = 1, n do
        if applied["k" .. i] ~= 1 then return false end
    end
    return true
end

T.test("the option: table, else server, else the default; clamped to 1 .. MAX_CONCURRENCY", function()
    T.eq(writes.concurrency_of(put("a")), writes.DEFAULT_CONCURRENCY)
    client.opts.server_options.write_concurrency = "2"
    T.eq(writes.concurrency_of(put("a")), 2)
    T.eq(writes.concurrency_of(put("a", "7")), 7, "the table option wins")
    T.eq(writes.concurrency_of(put("a", "0")), 1)
    T.eq(writes.concurrency_of(put("a", "100000")), writes.MAX_CONCURRENCY)
    client.opts.server_options.write_concurrency = nil
end)

T.test("up to N chunks in flight, finished in order, every write once", function()
    T.ok(flush(250, { server = "4" }))
    T.eq(max_in_flight, 4)
    T.eq(#log, 20)
    T.eq({ log[1], log[2], log[3], log[4], log[5], log[6] }, { "start 1", "start 2", "start 3", "start 4", "finish 1", "start 5" })
    local finished = {}
    for _, l in ipairs(log) do
        local n = l:match("^finish (%d+)")
        if n then finished[#finished + 1] = tonumber(n) end
    end
    T.eq(finished, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, "in order")
    T.ok(all_once(250))
end)

T.test("write_concurrency 1 sends one request at a time", function()
    T.ok(flush(100, { table = "1", server = "8" }))
    T.eq(max_in_flight, 1)
    T.eq(log, { "start 1", "finish 1", "start 2", "finish 2", "start 3", "finish 3", "start 4", "finish 4" })
end)

T.test("UnprocessedItems of each chunk are retried with backoff, each write arrives once", function()
    local ok, err = flush(100, { server = "4", answer = function(n) if n == 2 or n == 3 or n == 5 then return { unprocessed = 10 } end end })
    T.ok(ok, tostring(err and err.message))
    T.ok(all_once(100))
    T.eq(seq, 7, "4 chunks and 3 retries")
    T.eq(#capi.slept, 3)
end)

T.test("a single request waits for every chunk before it", function()
    local upd = { level = 1, client = client, table = "t", key = "k1", describe = "k1",
        request = { op = "UpdateItem", params = { Key = { k = { S = "k1" } } } } }
    local in_flight_at_update
    T.ok(flush(100, { server = "4", extra = { upd, put("k101") },
        answer = function(_, op) if op == "UpdateItem" then in_flight_at_update = in_flight end end }))
    T.eq(in_flight_at_update, 0)
    T.eq(log[#log - 3], "start 5", "the UpdateItem after the 4 chunks")
    T.ok(all_once(101))
end)

T.test("a failure stops new chunks, finishes those in flight and counts them", function()
    local ok, err = flush(200, { server = "4", answer = function(n)
        if n == 2 then return { error = { failure = "aws", code = "ValidationException", status = 400, message = "bad" } } end
    end })
    T.ok(not ok)
    T.eq(err.sqlstate, "22023")
    T.eq(err.message, "could not write DynamoDB item k26: DynamoDB BatchWriteItem failed: ValidationException: bad")
    T.eq(seq, 5, "chunks 3, 4 and 5 were in flight; none was sent after the failure")
    T.eq(err.detail, "100 of 200 buffered writes were applied: 25 before the failing request, 75 by requests in flight "
        .. "with it; the writes of the failing request were not applied. No request was sent after them. "
        .. "Writes in different requests are not atomic.")
    T.eq(applied.k26, nil)
    T.eq(applied.k126, nil)
end)

T.test("failures in flight beside the first one are counted as unknown; a lost answer as well", function()
    local ok, err = flush(100, { server = "4", answer = function(n)
        if n == 1 or n == 3 then return { error = { failure = "connection", kind = "recv", error_text = "reset", attempts = 4 } } end
    end })
    T.ok(not ok)
    T.eq(err.sqlstate, "HV00N")
    T.eq(err.message:match("^could not write DynamoDB item (%w+):"), "k1")
    T.ok(err.detail:find("50 of 100 buffered writes were applied: 0 before the failing request, 50 by requests in flight with it; "
        .. "the writes of the failing request may or may not have been applied.", 1, true), err.detail)
    T.ok(err.detail:find("25 writes of requests in flight with it that failed too may or may not have been applied.", 1, true), err.detail)
end)

T.test("without concurrency the detail reads as before", function()
    local ok, err = flush(50, { server = "1", answer = function(n)
        if n == 2 then return { error = { failure = "aws", code = "ValidationException", status = 400, message = "bad" } } end
    end })
    T.ok(not ok)
    T.eq(err.detail, "25 of 50 buffered writes were applied before the failing request; the others were not applied. "
        .. "Writes in different requests are not atomic.")
end)

T.test("unprocessed beyond max_retries: 53000 counting the writes of the chunks in flight too", function()
    local ok, err = flush(75, { server = "4", answer = function(n)
        if n == 1 or n >= 4 then return { unprocessed = 5 } end
    end })
    T.ok(not ok)
    T.eq(err.sqlstate, "53000")
    T.eq(err.detail, "70 of 75 buffered writes were applied; the unprocessed ones include k21. "
        .. "50 of the applied writes were in requests in flight with this one.")
end)

T.test("a malformed UnprocessedItems is a clear error, not a Lua one", function()
    for _, bad in ipairs({ "x", { t = "x" }, { other = {} }, { t = { 1 } } }) do
        local saved = client.finish
        client.finish = function(self, p) in_flight = in_flight - 1; return { UnprocessedItems = bad } end
        local ok, err = flush(3)
        client.finish = saved
        T.ok(not ok)
        T.eq(err.sqlstate, "HV000")
        T.ok(err.message:find("malformed DynamoDB BatchWriteItem response", 1, true), err.message)
    end
end)
