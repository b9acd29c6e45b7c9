-- The AWS JSON client against a fake HTTP handler: request shape and
-- signature, retries and backoff, error mapping, CRC32, clock skew, endpoint
-- resolution, and that no secret ever reaches an error or a log line.
local T = require "testlib"
local cjson = require "cjson"
local capi = require "dynamo_lua_fdw.capi"
local json = require "dynamo_lua_fdw.json"
-- The real client, even if another test file has put a stub in package.loaded.
local client_mod
do
    local name = "dynamo_lua_fdw.aws.client"
    local previous = package.loaded[name]
    package.loaded[name] = nil
    client_mod = require(name)
    package.loaded[name] = previous or client_mod
end
local retry = require "dynamo_lua_fdw.aws.retry"
local aws_errors = require "dynamo_lua_fdw.aws.errors"
local endpoint = require "dynamo_lua_fdw.aws.endpoint"
local credentials = require "dynamo_lua_fdw.aws.credentials"

local T0 = 1440938160 -- 2015-08-30T12:36:00Z
local AKID = "AKIDEXAMPLE"
local SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local TOKEN = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN//sess+ion=="
local USER = { access_key_id = AKID, secret_access_key = SECRET, session_token = TOKEN }
local RANDOM = retry.random

local function reset(env)
    capi.env = env or {}
    capi.aws_files = nil
    capi.logged, capi.slept = {}, {}
    capi.set_now(T0)
    capi.persistent().aws = nil
    capi.http_handler = nil
    retry.random = RANDOM
end

local function new_client(server_options, extra)
    local opts = { server_options = server_options or { region = "us-east-1" }, user_options = USER }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return client_mod.new(opts)
end

local function with_crc(status, body, headers)
    headers = headers or {}
    headers["x-amz-crc32"] = headers["x-amz-crc32"] or tostring(capi.crc32(body))
    return { status, headers, body }
end

local function ok_response(doc)
    return with_crc(200, doc and cjson.encode(doc) or '{"Count":1,"Items":[{"pk":{"S":"a"}}]}')
end

local function aws_error(status, type_, message, extra, headers)
    local doc = { __type = type_, message = message }
    for k, v in pairs(extra or {}) do doc[k] = v end
    return with_crc(status, cjson.encode(doc), headers)
end

local function conn_error(kind, message)
    return { nil, message or "Couldn't connect to server", kind }
end

-- Serves the given responses in order (the last one repeats) and records requests.
local function serve(responses)
    local reqs = {}
    capi.http_handler = function(req)
        assert(not req.url:find("169.254.", 1, true), "a client test asked for " .. req.url)
        reqs[#reqs + 1] = req
        local r = responses[math.min(#reqs, #responses)]
        return r[1], r[2], r[3]
    end
    return reqs
end

local function header(req, name)
    local found
    for _, h in ipairs(req.headers) do
        local n, v = h:match("^([^:]+):%s*(.*)$")
        if n:lower() == name:lower() then
            assert(found == nil, "header " .. name .. " sent twice")
            found = v
        end
    end
    return found
end

-- No key id, secret, token or any sent signature in the error's strings or the log.
local function assert_no_secrets(err, reqs)
    local secrets = { AKID, SECRET, TOKEN }
    for _, r in ipairs(reqs or {}) do
        local auth = header(r, "Authorization")
        if auth then secrets[#secrets + 1] = auth:match("Signature=(%x+)") end
    end
    local texts = {}
    if type(err) == "table" then
        for k, v in pairs(err) do
            if type(v) == "string" then texts[#texts + 1] = k .. "=" .. v end
        end
    elseif err ~= nil then
        texts[#texts + 1] = tostring(err)
    end
    for _, l in ipairs(capi.logged) do texts[#texts + 1] = "log " .. l.message end
    for _, t in ipairs(texts) do
        for _, s in ipairs(secrets) do
            T.ok(not t:find(s, 1, true), "a secret (" .. s:sub(1, 4) .. "...) appears in " .. t)
        end
    end
end

local function call_err(c, op, params, once)
    local ok, err = pcall(c.call, c, op or "Query", params or { TableName = "t" }, once)
    T.ok(not ok, "the call should fail")
    T.ok(type(err) == "table" and err.sqlstate, "structured error expected, got " .. tostring(err))
    return err
end

---------------------------------------------------------------------------

T.test("a successful call sends the right request and a valid signature", function()
    reset()
    local reqs = serve{ ok_response() }
    local c = new_client({ region = "us-east-1", ca_file = "/etc/ssl/my-ca.pem", request_timeout_ms = "5000" })
    local params = { TableName = "t", KeyConditionExpression = "pk = :v",
        ExpressionAttributeValues = { [":v"] = { N = "12345678901234567890.5" } }, Limit = 10 }
    local resp = c:call("Query", params)
    T.eq(resp.Count, 1, "decoded response")
    T.eq(resp.Items[1].pk.S, "a", "decoded item")
    T.eq(#reqs, 1, "one request")
    local r = reqs[1]
    T.eq(r.method, "POST")
    T.eq(r.url, "https://dynamodb.us-east-1.amazonaws.com/")
    T.eq(r.body, json.encode(params), "body is json.encode(params)")
    T.ok(r.body:find('"N":"12345678901234567890.5"', 1, true), "numbers stay exact strings")
    T.eq(r.timeout_ms, 5000, "timeout from request_timeout_ms")
    T.eq(r.ca_file, "/etc/ssl/my-ca.pem", "ca_file passed through")
    T.eq(header(r, "Host"), "dynamodb.us-east-1.amazonaws.com")
    T.eq(header(r, "Content-Type"), "application/x-amz-json-1.0")
    T.eq(header(r, "X-Amz-Target"), "DynamoDB_20120810.Query")
    T.eq(header(r, "Accept-Encoding"), "identity")
    T.eq(header(r, "X-Amz-Date"), "20150830T123600Z")
    T.eq(header(r, "X-Amz-Security-Token"), TOKEN)
    local auth = header(r, "Authorization")
    local sig = auth:match("^AWS4%-HMAC%-SHA256 Credential=AKIDEXAMPLE/20150830/us%-east%-1/dynamodb/aws4_request, "
        .. "SignedHeaders=content%-type;host;x%-amz%-date;x%-amz%-security%-token;x%-amz%-target, Signature=(%x+)$")
    T.ok(sig and #sig == 64, "Authorization format: " .. tostring(auth))
    -- Recompute the signature by hand from what was sent (SigV4 spec, not sigv4.lua).
    local creq = table.concat({ "POST", "/", "",
        "content-type:application/x-amz-json-1.0", "host:dynamodb.us-east-1.amazonaws.com",
        "x-amz-date:20150830T123600Z", "x-amz-security-token:" .. TOKEN, "x-amz-target:DynamoDB_20120810.Query", "",
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target", capi.hex(capi.sha256(r.body)) }, "\n")
    local sts = table.concat({ "AWS4-HMAC-SHA256", "20150830T123600Z", "20150830/us-east-1/dynamodb/aws4_request",
        capi.hex(capi.sha256(creq)) }, "\n")
    local k = capi.hmac_sha256("AWS4" .. SECRET, "20150830")
    k = capi.hmac_sha256(capi.hmac_sha256(capi.hmac_sha256(k, "us-east-1"), "dynamodb"), "aws4_request")
    T.eq(sig, capi.hex(capi.hmac_sha256(k, sts)), "signature")
    T.eq(c.stats, { requests = 1, retries = 0, throttled = 0 }, "stats")
    T.eq(#capi.logged, 1, "one log line per request")
    T.eq(capi.logged[1].level, "DEBUG1")
    T.ok(capi.logged[1].message:find("Query: HTTP 200, attempt 1, %d+ ms"), capi.logged[1].message)
    T.eq(#capi.slept, 0, "no sleep")
    assert_no_secrets(nil, reqs)
end)

T.test("custom endpoint with a port: Host carries the port; other services use their target prefix", function()
    reset()
    local reqs = serve{ ok_response{} }
    local c = new_client({ region = "eu-west-1", endpoint = "http://localhost:8000" })
    T.eq(c:call("ListTables", nil), {}, "empty params send {}")
    T.eq(reqs[1].url, "http://localhost:8000/")
    T.eq(header(reqs[1], "Host"), "localhost:8000")
    T.eq(reqs[1].body, "{}")
    T.ok(header(reqs[1], "Authorization"):find("/eu-west-1/dynamodb/aws4_request", 1, true), "region in scope")
    local k = new_client({ region = "eu-west-1", endpoint = "http://[::1]:4567" },
        { service = "kinesis", target_prefix = "Kinesis_20131202" })
    k:call("ListStreams", {})
    T.eq(reqs[2].url, "http://[::1]:4567/")
    T.eq(header(reqs[2], "Host"), "[::1]:4567")
    T.eq(header(reqs[2], "X-Amz-Target"), "Kinesis_20131202.ListStreams")
    T.ok(header(reqs[2], "Authorization"):find("/eu-west-1/kinesis/aws4_request", 1, true), "kinesis scope")
end)

T.test("start/finish: requests in flight together, each finished with its own response and retries", function()
    reset()
    local answers = { ["1"] = { ok_response({ Item = { pk = { S = "1" } } }) },
                      ["2"] = { aws_error(500, "InternalServerError", "boom"), ok_response({ Item = { pk = { S = "2" } } }) } }
    capi.http_handler = function(req)
        local key = cjson.decode(req.body).Key.pk.S
        return unpack(table.remove(answers[key], 1))
    end
    local c = new_client()
    local started = capi.started
    local p1 = c:start("GetItem", { TableName = "t", Key = { pk = { S = "1" } } })
    local p2 = c:start("GetItem", { TableName = "t", Key = { pk = { S = "2" } } })
    T.eq(capi.started - started, 2, "both sent before either is awaited")
    T.eq(capi.in_flight(), 2)
    T.eq(c:finish(p2).Item.pk.S, "2", "the second, after one retry")
    T.eq(c:finish(p1).Item.pk.S, "1")
    T.eq(capi.in_flight(), 0)
    T.eq(c.stats.retries, 1)
end)

T.test("a request sent once: a lost answer is an error, not a second send; a refused connection is retried", function()
    reset()
    local reqs = serve{ conn_error("recv", "Connection reset by peer"), ok_response() }
    local c = new_client()
    local err = call_err(c, "UpdateItem", nil, true)
    T.eq(#reqs, 1, "not sent again")
    T.eq(err.sqlstate, "HV00N")
    reqs = serve{ conn_error("connect"), ok_response() }
    T.ok(c:call("UpdateItem", {}, true), "nothing had left: sent again")
    T.eq(#reqs, 2)
    reqs = serve{ conn_error("recv", "Connection reset by peer"), ok_response() }
    T.ok(c:call("UpdateItem", {}), "an idempotent request is retried")
    T.eq(#reqs, 2)
end)

T.test("throttling N times then success: jittered sleeps under growing caps, counted", function()
    for _, N in ipairs({ 1, 4, 10 }) do
        reset()
        local responses = {}
        for i = 1, N do
            responses[i] = aws_error(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.")
        end
        responses[N + 1] = ok_response()
        local reqs = serve(responses)
        local c = new_client()
        T.eq(c:call("Query", { TableName = "t" }).Count, 1, "eventual success")
        T.eq(#reqs, N + 1, "requests")
        T.eq(c.stats, { requests = N + 1, retries = N, throttled = N }, "stats")
        T.eq(client_mod.backend_stats().throttled, N, "backend throttled")
        T.eq(#capi.slept, N, "one sleep per retry")
        local prev_cap = 0
        for i, ms in ipairs(capi.slept) do
            local cap = retry.cap_ms(i)
            T.ok(cap >= prev_cap, "caps never decrease")
            T.ok(cap <= 20000, "cap at most 20 s")
            T.ok(ms >= 0 and ms <= cap and ms == math.floor(ms), "sleep " .. ms .. " within [0, " .. cap .. "]")
            prev_cap = cap
        end
        T.eq(#capi.logged >= N + 1, true, "a log line per request")
        assert_no_secrets(nil, reqs)
    end
    -- With the jitter pinned to its maximum the sleeps are exactly the caps.
    reset()
    retry.random = function(a, b) return b end
    local responses = {}
    for i = 1, 10 do responses[i] = aws_error(400, "ThrottlingException", "Rate exceeded") end
    responses[11] = ok_response()
    serve(responses)
    new_client():call("Query", {})
    T.eq(capi.slept, { 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000 }, "full-jitter caps")
end)

T.test("throttling beyond max_retries gives 53000 with a hint", function()
    reset()
    local reqs = serve{ aws_error(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.") }
    local c = new_client({ region = "us-east-1", max_retries = "3" })
    T.eq(c.max_retries, 3)
    local err = call_err(c)
    T.eq(err.sqlstate, "53000")
    T.eq(err.aws_code, "ProvisionedThroughputExceededException")
    T.eq(err.retryable, true)
    T.eq(err.message, "DynamoDB Query failed after 4 attempts: ProvisionedThroughputExceededException: "
        .. "The level of configured provisioned throughput for the table was exceeded.")
    T.ok(err.hint:find("max_retries (now 3)", 1, true), err.hint)
    T.eq(#reqs, 4, "first try plus 3 retries")
    T.eq(#capi.slept, 3)
    T.eq(c.stats.throttled, 4, "every throttled answer counted")
    assert_no_secrets(err, reqs)
    -- Default: 10 retries.
    reset()
    reqs = serve{ aws_error(400, "ThrottlingException", "Rate exceeded") }
    err = call_err(new_client())
    T.eq(err.sqlstate, "53000")
    T.eq(#reqs, 11, "default max_retries is 10")
    -- max_retries 0: no retry at all.
    reset()
    reqs = serve{ aws_error(400, "RequestLimitExceeded", "Throughput exceeds the current throughput limit for your account.") }
    err = call_err(new_client({ region = "us-east-1", max_retries = "0" }))
    T.eq(err.sqlstate, "53000")
    T.eq(#reqs, 1)
    T.eq(#capi.slept, 0)
end)

T.test("HTTP 500 then success is retried; 5xx exhausted gives HV000", function()
    reset()
    local reqs = serve{ aws_error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
        with_crc(503, ""), ok_response() }
    local c = new_client()
    T.eq(c:call("GetItem", { TableName = "t" }).Count, 1)
    T.eq(#reqs, 3)
    T.eq(c.stats, { requests = 3, retries = 2, throttled = 0 })
    reset()
    reqs = serve{ aws_error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error") }
    local err = call_err(new_client({ region = "us-east-1", max_retries = "2" }), "PutItem")
    T.eq(err.sqlstate, "HV000")
    T.eq(err.message, "DynamoDB returned HTTP 500 for PutItem after 3 attempts")
    T.ok(err.detail:find("InternalServerError: Internal server error", 1, true), err.detail)
    T.ok(err.detail:find("may or may not have been applied", 1, true), "write warning")
    T.eq(err.retryable, true)
    T.eq(err.http_status, 500)
    assert_no_secrets(err, reqs)
    reset()
    reqs = serve{ with_crc(502, "<html>Bad Gateway</html>") }
    err = call_err(new_client({ region = "us-east-1", max_retries = "1" }))
    T.eq(err.message, "DynamoDB returned HTTP 502 for Query after 2 attempts")
    T.ok(err.detail:find("Bad Gateway", 1, true), "body excerpt")
end)

T.test("400 ValidationException fails at once with 22023", function()
    reset()
    local reqs = serve{ aws_error(400, "com.amazon.coral.validate#ValidationException",
        "One or more parameter values were invalid: Missing the key pk in the item") }
    local c = new_client()
    local err = call_err(c, "PutItem")
    T.eq(err.sqlstate, "22023")
    T.eq(err.message, "DynamoDB PutItem failed: ValidationException: "
        .. "One or more parameter values were invalid: Missing the key pk in the item")
    T.eq(err.aws_code, "ValidationException")
    T.eq(err.retryable, false)
    T.eq(#reqs, 1, "one request")
    T.eq(#capi.slept, 0, "no sleep")
    T.eq(c.stats.retries, 0)
    T.ok(capi.logged[1].message:find("HTTP 400 ValidationException", 1, true), capi.logged[1].message)
    assert_no_secrets(err, reqs)
end)

T.test("ResourceNotFoundException gives HV00R with a hint on table name and region", function()
    reset()
    local reqs = serve{ aws_error(400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "Requested resource not found") }
    local err = call_err(new_client({ region = "eu-central-1" }))
    T.eq(err.sqlstate, "HV00R")
    T.eq(err.message, "DynamoDB Query failed: ResourceNotFoundException: Requested resource not found")
    T.ok(err.hint:find("table", 1, true) and err.hint:find("eu-central-1", 1, true), err.hint)
    T.eq(#reqs, 1)
    assert_no_secrets(err, reqs)
end)

T.test("other codes map to their SQLSTATEs; Message key and x-amzn-errortype accepted", function()
    local cases = {
        { "com.amazon.coral.service#UnrecognizedClientException", "The security token included in the request is invalid.", "28000" },
        { "com.amazon.coral.service#ExpiredTokenException", "The security token included in the request is expired", "28000" },
        { "com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing Authentication Token", "28000" },
        { "com.amazon.coral.service#IncompleteSignatureException", "Incomplete signature", "28000" },
        { "com.amazon.coral.service#AccessDeniedException", "User: arn:aws:iam::123456789012:user/x is not authorized", "42501" },
        { "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "The conditional request failed", "23505" },
        { "com.amazonaws.dynamodb.v20120810#TransactionConflictException", "Transaction is ongoing for the item", "40001" },
        { "com.amazonaws.dynamodb.v20120810#ItemCollectionSizeLimitExceededException", "Item collection too large", "54000" },
        { "com.amazonaws.dynamodb.v20120810#ResourceInUseException", "Table already exists: t", "55006" },
        { "com.amazonaws.dynamodb.v20120810#SomethingNewException", "new", "HV000" },
    }
    for _, case in ipairs(cases) do
        reset()
        local reqs = serve{ aws_error(400, case[1], case[2]) }
        local err = call_err(new_client())
        local code = case[1]:match("#(.*)$")
        T.eq(err.sqlstate, case[3], code)
        T.eq(err.aws_code, code)
        T.eq(err.message, "DynamoDB Query failed: " .. code .. ": " .. case[2])
        T.eq(#reqs, 1, code .. " is not retried")
        if case[3] == "28000" then
            T.ok(err.hint:find("user mapping", 1, true), "credential source named: " .. err.hint)
        end
        assert_no_secrets(err, reqs)
    end
    reset()
    serve{ with_crc(400, '{"__type":"com.amazon.coral.validate#ValidationException","Message":"Capital M"}') }
    T.eq(call_err(new_client()).message, "DynamoDB Query failed: ValidationException: Capital M")
    reset()
    serve{ with_crc(400, "", { ["x-amzn-errortype"] = "AccessDeniedException:http://internal.amazon.com/coral/x/" }) }
    local err = call_err(new_client())
    T.eq(err.sqlstate, "42501")
    T.eq(err.message, "DynamoDB Query failed: AccessDeniedException")
    reset()
    serve{ with_crc(413, "Request Entity Too Large") }
    err = call_err(new_client())
    T.eq(err.sqlstate, "HV000")
    T.eq(err.message, "DynamoDB returned HTTP 413 for Query")
end)

T.test("TransactionCanceledException: the decisive reason's SQLSTATE, and the reasons", function()
    reset()
    local reqs = serve{ aws_error(400, "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]",
        { CancellationReasons = { { Code = "ConditionalCheckFailed", Message = "The conditional request failed" },
            { Code = "None" } } }) }
    local err = call_err(new_client(), "TransactWriteItems")
    T.eq(err.sqlstate, "23505", "a false condition")
    T.eq(err.detail, "Cancellation reasons, one per action: ConditionalCheckFailed, None.")
    T.eq(err.cancellation_reasons, { "ConditionalCheckFailed", "None" })
    T.eq(#reqs, 1, "not retried")
end)

T.test("ReplicatedWriteConflictException is retried; exhausted gives 40001", function()
    reset()
    local reqs = serve{ aws_error(409, "com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException", "conflict"),
        ok_response() }
    T.eq(new_client():call("PutItem", {}).Count, 1)
    T.eq(#reqs, 2)
    reset()
    serve{ aws_error(409, "com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException", "conflict") }
    local err = call_err(new_client({ region = "us-east-1", max_retries = "1" }), "PutItem")
    T.eq(err.sqlstate, "40001")
    T.eq(err.message, "DynamoDB PutItem failed after 2 attempts: ReplicatedWriteConflictException: conflict")
end)

T.test("bad CRC32 then good is retried; the vectors file drives the check", function()
    reset()
    local good = ok_response()
    local bad = { 200, { ["x-amz-crc32"] = tostring((capi.crc32(good[3]) + 1) % 4294967296) }, good[3] }
    local reqs = serve{ bad, good }
    local c = new_client()
    T.eq(c:call("Query", {}).Count, 1)
    T.eq(#reqs, 2, "retried after the mismatch")
    T.eq(client_mod.backend_stats().crc_mismatches, 1)
    T.eq(c.stats.retries, 1)
    -- exhausted
    reset()
    serve{ bad }
    local err = call_err(new_client({ region = "us-east-1", max_retries = "2" }))
    T.eq(err.sqlstate, "HV000")
    T.ok(err.message:find("CRC32", 1, true), err.message)
    T.eq(err.retryable, true)
    -- testdata vectors: the header value as DynamoDB sends it, decimal.
    local n = 0
    for line in T.read_file(T.testdata .. "/dynamodb/crc32-vectors.tsv"):gmatch("[^\n]+") do
        local crc, _, _, expect, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)")
        if crc ~= "x_amz_crc32" then
            n = n + 1
            reset()
            local status = body:find("__type", 1, true) and 400 or 200
            serve{ { status, { ["x-amz-crc32"] = crc }, body }, ok_response() }
            local vc = new_client()
            pcall(vc.call, vc, "Query", {})
            T.eq(client_mod.backend_stats().crc_mismatches, expect == "mismatch" and 1 or 0,
                "crc check of vector " .. crc .. " (" .. expect .. ")")
        end
    end
    T.eq(n, 5, "vectors read")
end)

T.test("malformed 200 body then good is retried; exhausted gives HV000", function()
    for _, body in ipairs({ "{not json", "[1,2,3]", "", "<html>proxy</html>" }) do
        reset()
        local reqs = serve{ with_crc(200, body), ok_response() }
        T.eq(new_client():call("Scan", {}).Count, 1, "success after " .. body)
        T.eq(#reqs, 2, "retried after " .. string.format("%q", body))
    end
    reset()
    serve{ { 200, {}, "{\"Items\": [" } }
    local err = call_err(new_client({ region = "us-east-1", max_retries = "1" }), "Scan")
    T.eq(err.sqlstate, "HV000")
    T.ok(err.message:find("^malformed response from DynamoDB Scan"), err.message)
    T.eq(err.retryable, true)
end)

T.test("connection refused is retried then succeeds; exhausted gives HV00N", function()
    reset()
    local reqs = serve{ conn_error("connect"), conn_error("timeout", "Timeout was reached"),
        conn_error("recv", "Connection reset by peer"), conn_error("send", "Failed sending data"), ok_response() }
    local c = new_client()
    T.eq(c:call("Query", {}).Count, 1)
    T.eq(#reqs, 5)
    T.eq(#capi.slept, 4)
    T.eq(c.stats, { requests = 5, retries = 4, throttled = 0 })
    T.ok(capi.logged[1].message:find("connect error (Couldn't connect to server), attempt 1", 1, true),
        capi.logged[1].message)
    reset()
    reqs = serve{ conn_error("connect") }
    local err = call_err(new_client({ region = "us-east-1", endpoint = "http://localhost:1", max_retries = "3" }))
    T.eq(err.sqlstate, "HV00N")
    T.eq(err.message, "could not connect to DynamoDB at http://localhost:1/: Couldn't connect to server")
    T.eq(err.detail, "Tried 4 times.")
    T.eq(err.retryable, true)
    T.eq(#reqs, 4)
    assert_no_secrets(err, reqs)
    reset()
    serve{ conn_error("timeout", "Timeout was reached") }
    err = call_err(new_client({ region = "us-east-1", max_retries = "1", request_timeout_ms = "1500" }))
    T.eq(err.sqlstate, "HV00N")
    T.ok(err.hint:find("request_timeout_ms (now 1500)", 1, true), err.hint)
end)

T.test("a TLS failure gives HV00N at once with a hint on ca_file", function()
    reset()
    local reqs = serve{ conn_error("tls", "SSL peer certificate or SSH remote key was not OK"), ok_response() }
    local err = call_err(new_client())
    T.eq(err.sqlstate, "HV00N")
    T.ok(err.message:find("TLS", 1, true), err.message)
    T.ok(err.hint:find("ca_file", 1, true), err.hint)
    T.eq(err.retryable, false)
    T.eq(#reqs, 1, "not retried")
    T.eq(#capi.slept, 0)
    reset()
    reqs = serve{ conn_error("other", "URL using bad/illegal format"), ok_response() }
    err = call_err(new_client())
    T.eq(err.sqlstate, "HV00N")
    T.eq(#reqs, 1, "kind other is not retried")
end)

T.test("clock skew: the offset comes from the Date header and the retry is free", function()
    reset()
    local reqs = serve{
        aws_error(400, "com.amazon.coral.service#InvalidSignatureException",
            "Signature expired: 20150830T123600Z is now earlier than 20150830T133100Z (20150830T134100Z - 5 min.)",
            nil, { date = "Sun, 30 Aug 2015 13:41:07 GMT" }),
        ok_response() }
    local c = new_client({ region = "us-east-1", max_retries = "0" })
    T.eq(c:call("Query", {}).Count, 1, "success after the correction, even with max_retries 0")
    T.eq(#reqs, 2)
    T.eq(header(reqs[1], "X-Amz-Date"), "20150830T123600Z")
    T.eq(header(reqs[2], "X-Amz-Date"), "20150830T134107Z", "second request uses the server's time")
    T.ok(header(reqs[2], "Authorization"):find("Credential=AKIDEXAMPLE/20150830/", 1, true), "scope date")
    T.eq(client_mod.clock_offset(), 3907)
    T.eq(client_mod.backend_stats().clock_skew_corrections, 1)
    T.eq(c.stats.retries, 0, "not counted as a retry")
    T.eq(#capi.slept, 0, "no sleep")
    -- The offset persists for later calls in the backend, across clients.
    capi.set_now(T0 + 10)
    local more = serve{ ok_response() }
    new_client():call("Query", {})
    T.eq(header(more[1], "X-Amz-Date"), "20150830T134117Z")
    assert_no_secrets(nil, reqs)
    -- Only once per call: a second skew error is a credentials error.
    reset()
    reqs = serve{ aws_error(400, "com.amazon.coral.service#InvalidSignatureException",
        "Signature not yet current: 20150830T123600Z is still later than 20150830T122100Z", nil,
        { date = "Sun, 30 Aug 2015 12:06:00 GMT" }) }
    local err = call_err(new_client())
    T.eq(#reqs, 2)
    T.eq(client_mod.clock_offset(), -1800)
    T.eq(err.sqlstate, "28000")
    T.ok(err.hint:find("clock", 1, true), err.hint)
    -- Without a Date header there is nothing to correct with.
    reset()
    reqs = serve{ aws_error(400, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.") }
    err = call_err(new_client())
    T.eq(#reqs, 1)
    T.eq(err.sqlstate, "28000")
end)

T.test("signature errors quoting the canonical request leak no secret", function()
    reset()
    local leak = "The request signature we calculated does not match the signature you provided. Check your AWS "
        .. "Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical "
        .. "String for this request should have been\n'POST\n/\n\nhost:dynamodb.us-east-1.amazonaws.com\n"
        .. "x-amz-security-token:" .. TOKEN .. "\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256'"
    local reqs = serve{ aws_error(400, "com.amazon.coral.service#InvalidSignatureException", leak) }
    local err = call_err(new_client())
    T.eq(err.sqlstate, "28000")
    T.ok(err.message:find("does not match the signature you provided", 1, true), err.message)
    assert_no_secrets(err, reqs)
    -- Whatever the service echoes, key id, token and signature are redacted.
    reset()
    local sig_echo
    capi.http_handler = function(req)
        local auth = header(req, "Authorization")
        sig_echo = auth:match("Signature=(%x+)")
        local r = aws_error(400, "com.amazon.coral.service#UnrecognizedClientException",
            "Key " .. AKID .. " token " .. TOKEN .. " secret " .. SECRET .. " sig " .. sig_echo)
        reqs = { req }
        return r[1], r[2], r[3]
    end
    err = call_err(new_client())
    T.eq(err.message, "DynamoDB Query failed: UnrecognizedClientException: Key <redacted> token <redacted> "
        .. "secret <redacted> sig <redacted>")
    assert_no_secrets(err, reqs)
end)

T.test("expired cached temporary credentials are refreshed once", function()
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:1" })
    local fetched, seen = 0, {}
    capi.http_handler = function(req)
        if req.url:find("/latest/api/token", 1, true) then return 200, {}, "imds-token" end
        if req.url:match("/security%-credentials/$") then return 200, {}, "role\n" end
        if req.url:find("/security-credentials/role", 1, true) then
            fetched = fetched + 1
            return 200, {}, cjson.encode{ Code = "Success", AccessKeyId = "ASIATEMP" .. fetched,
                SecretAccessKey = "tempsecret" .. fetched, Token = "temptoken" .. fetched,
                Expiration = "2015-08-30T18:36:00Z" }
        end
        local auth = header(req, "Authorization")
        seen[#seen + 1] = auth:match("Credential=(%w+)/")
        if #seen == 1 then
            local r = aws_error(400, "com.amazon.coral.service#ExpiredTokenException",
                "The security token included in the request is expired")
            return r[1], r[2], r[3]
        end
        local r = ok_response()
        return r[1], r[2], r[3]
    end
    local c = client_mod.new{ server_options = { region = "us-east-1", max_retries = "0" } }
    T.eq(c:call("Query", {}).Count, 1)
    T.eq(seen, { "ASIATEMP1", "ASIATEMP2" }, "second attempt with fresh credentials")
    T.eq(fetched, 2)
end)

T.test("retry classification agrees with errors.tsv (botocore standard mode)", function()
    local rows = 0
    for line in T.read_file(T.testdata .. "/dynamodb/errors.tsv"):gmatch("[^\n]+") do
        local f = {}
        for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
        if f[1] ~= "code" then
            rows = rows + 1
            local class = retry.classify{ status = tonumber(f[2]), code = f[1] }
            T.eq(class ~= nil, f[5] == "yes", f[1] .. " retried")
            T.eq(class == "throttle", f[4] == "yes", f[1] .. " throttling")
            if not class then
                T.ok(aws_errors.SQLSTATE[f[1]] ~= nil, f[1] .. " has a SQLSTATE")
            end
        end
    end
    T.eq(rows, 20)
    T.eq(retry.classify{ kind = "connect" }, "transient")
    T.eq(retry.classify{ kind = "tls" }, nil)
    T.eq(retry.classify{ status = 200, crc_mismatch = true }, "transient")
    T.eq(retry.classify{ status = 400 }, nil)
    T.eq(aws_errors.parse_code("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"), "ResourceNotFoundException")
    T.eq(aws_errors.parse_code("a#b#UnrecognizedClientException:http://internal.amazon.com/coral/"), "UnrecognizedClientException")
    T.eq(aws_errors.parse_code("ValidationException"), "ValidationException")
    T.eq(aws_errors.parse_code(""), nil)
    for n = 1, 40 do
        T.ok(retry.cap_ms(n) <= 20000 and retry.cap_ms(n) >= retry.cap_ms(math.max(1, n - 1)), "cap " .. n)
        local b = retry.backoff_ms(n)
        T.ok(b >= 0 and b <= retry.cap_ms(n), "backoff " .. n)
    end
    T.eq(retry.cap_ms(1), 50)
    T.eq(retry.max_retries({ max_retries = "-3" }), 0)
    T.eq(retry.max_retries({}), 10)
end)

T.test("HTTP dates parse without os.time", function()
    T.eq(client_mod.parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), T0)
    T.eq(client_mod.parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0)
    T.eq(client_mod.parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599)
    T.eq(client_mod.parse_http_date("Sat, 1 Jan 2000 00:00:00 GMT"), 946684800)
    T.eq(client_mod.parse_http_date("30 Aug 2015 12:36:00 GMT"), T0)
    T.eq(client_mod.parse_http_date("garbage"), nil)
    T.eq(client_mod.parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), nil)
    T.eq(client_mod.parse_http_date(nil), nil)
end)

T.test("endpoint and region resolution order", function()
    reset()
    T.raises(function() endpoint.resolve{ server_options = {} } end, "22023", "no AWS region configured", "region")
    reset({ AWS_DEFAULT_REGION = "ap-south-1" })
    T.eq(endpoint.resolve{ server_options = {} }.url, "https://dynamodb.ap-south-1.amazonaws.com/")
    reset({ AWS_DEFAULT_REGION = "ap-south-1", AWS_REGION = "eu-west-3" })
    T.eq(endpoint.resolve{ server_options = {} }.region, "eu-west-3", "AWS_REGION before AWS_DEFAULT_REGION")
    T.eq(endpoint.resolve{ server_options = { region = "us-west-2" } }.region, "us-west-2", "server option first")
    T.eq(endpoint.resolve{ region = "sa-east-1", server_options = { region = "us-west-2" } }.region, "sa-east-1",
        "override first")
    reset()
    capi.aws_files = { config = "[default]\nregion = eu-north-1\n[profile dev]\nregion=us-east-2\n" }
    T.eq(endpoint.resolve{ server_options = {} }.region, "eu-north-1", "default profile region")
    T.eq(endpoint.resolve{ server_options = { profile = "dev" } }.region, "us-east-2", "named profile region")
    capi.env = { AWS_PROFILE = "dev" }
    T.eq(endpoint.resolve{ server_options = {} }.region, "us-east-2", "AWS_PROFILE region")
    reset({ AWS_ENDPOINT_URL = "http://general:1", AWS_ENDPOINT_URL_DYNAMODB = "http://ddb:2/base" })
    local e = endpoint.resolve{ server_options = { region = "us-east-1" } }
    T.eq({ e.url, e.host_header, e.path, e.port }, { "http://ddb:2/base", "ddb:2", "/base", 2 }, "service-specific env")
    T.eq(endpoint.resolve{ service = "kinesis", server_options = { region = "us-east-1" } }.url, "http://general:1/",
        "AWS_ENDPOINT_URL for other services")
    T.eq(endpoint.resolve{ server_options = { region = "us-east-1", endpoint = "https://vpce.example.com" } }.url,
        "https://vpce.example.com/", "server option endpoint first")
    reset()
    T.eq(endpoint.resolve{ server_options = { region = "cn-north-1" } }.url, "https://dynamodb.cn-north-1.amazonaws.com.cn/")
    T.eq(endpoint.resolve{ service = "kinesis", server_options = { region = "us-east-1" } }.host_header,
        "kinesis.us-east-1.amazonaws.com")
    for _, bad in ipairs({ "localhost:8000", "ftp://x", "http://user:pw@host", "http://h:0", "http://h:99999",
        "http://h/?q=1", "http://", "http://a b" }) do
        T.raises(function()
            endpoint.resolve{ server_options = { region = "us-east-1", endpoint = bad } }
        end, "22023", "invalid endpoint URL")
    end
    T.raises(function() endpoint.resolve{ server_options = { region = "us-east-1/../x" } } end, "22023", "invalid AWS region")
    -- client.new resolves the endpoint at once but credentials only on call().
    reset()
    capi.http_handler = function() error("no request expected") end
    local c = client_mod.new{ server_options = { region = "us-east-1" } }
    T.eq(c.endpoint, "https://dynamodb.us-east-1.amazonaws.com/")
    T.eq(c.max_retries, 10)
    credentials.clear_cache()
end)

-- Leave the fake C API as other test files expect to find it.
capi.env, capi.aws_files, capi.http_handler = nil, nil, nil
capi.persistent().aws = nil
retry.random = RANDOM
