-- AWS JSON 1.0 protocol client (DynamoDB; Kinesis uses the same protocol).
--
--   local client_mod = require "dynamo_lua_fdw.aws.client"
--   local c = client_mod.new{
--       server_options = { region=, endpoint=, profile=, max_retries=, ca_file=, request_timeout_ms= },
--       user_options = { access_key_id=, secret_access_key=, session_token= },
--       region = <override or nil>,
--       service = "dynamodb", target_prefix = "DynamoDB_20120810",   -- the defaults
--       content_type = "application/x-amz-json-1.0",                 -- Kinesis: ...-1.1
--   }
--   local resp = c:call("Query", params)   -- decoded response table, or errors.raise{...}
--   c.stats                  -- { requests=, retries=, throttled= } of this client
--   c.endpoint, c.region, c.max_retries, c.timeout_ms
--   client_mod.backend_stats() -- copy of the backend-wide counters
--
-- new() resolves region and endpoint at once; credentials are resolved at
-- the start of every call() (static sources are cheap to re-read; temporary
-- ones come from the backend-wide cache in capi.persistent()).
--
-- One call: POST <endpoint path> with the JSON body (json.encode), signed
-- with SigV4 at capi.now() + the backend's clock offset.  Failures that
-- aws/retry.lua calls retryable are retried up to max_retries times (server
-- option, default 10) after capi.sleep(full-jitter backoff).  A clock-skew
-- error is answered once per call by taking the offset from the response's
-- Date header, and expired cached temporary credentials are refreshed once;
-- neither counts against max_retries.  Errors map to SQLSTATEs in
-- aws/errors.lua (docs/ERRORS.md).  No key id, secret, token or signature
-- ever reaches an error field or a log line.
local capi = require "dynamo_lua_fdw.capi"
local cjson = require "cjson"
local json = require "dynamo_lua_fdw.json"
local errors = require "dynamo_lua_fdw.errors"
local dates = require "dynamo_lua_fdw.dates"
local sigv4 = require "dynamo_lua_fdw.aws.sigv4"
local retry = require "dynamo_lua_fdw.aws.retry"
local aws_errors = require "dynamo_lua_fdw.aws.errors"
local credentials = require "dynamo_lua_fdw.aws.credentials"
local endpoint = require "dynamo_lua_fdw.aws.endpoint"

local fmt, find, sub, floor = string.format, string.find, string.sub, math.floor

local M = {}

M.CONTENT_TYPE = "application/x-amz-json-1.0"
M.DEFAULT_TIMEOUT_MS = 60000         -- per request, when request_timeout_ms is not set
M.CONNECT_TIMEOUT_MS = 10000         -- at most; never more than the request timeout
M.EXCERPT = 200                      -- bytes of an unexpected response body quoted in errors

local SERVICE_NAMES = { dynamodb = "DynamoDB", kinesis = "Kinesis", streams = "DynamoDB Streams" }

---------------------------------------------------------------------------
-- backend-wide state
---------------------------------------------------------------------------

local function state()
    local P = capi.persistent()
    local A = P.aws
    if not A then A = {}; P.aws = A end
    if not A.stats then
        A.stats = { requests = 0, retries = 0, throttled = 0, crc_mismatches = 0, clock_skew_corrections = 0 }
    end
    A.clock_offset = A.clock_offset or 0
    return A
end

function M.backend_stats()
    local copy = {}
    for k, v in pairs(state().stats) do copy[k] = v end
    return copy
end

-- Seconds to add to capi.now() to get the service's clock.
function M.clock_offset() return state().clock_offset end

local function bump(c, name, n)
    n = n or 1
    if c.stats[name] then c.stats[name] = c.stats[name] + n end
    local s = state().stats
    s[name] = (s[name] or 0) + n
end

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6,
    jul = 7, aug = 8, sep = 9, oct = 10, nov = 11, dec = 12 }

-- RFC 1123 ("Sun, 30 Aug 2015 12:36:00 GMT"; the weekday is optional) -> epoch seconds.
function M.parse_http_date(s)
    if type(s) ~= "string" then return nil end
    local d, mon, y, h, mi, sec = s:match("^%s*%a*,?%s*(%d%d?)[ -](%a%a%a)[ -](%d%d%d%d)%s+(%d%d):(%d%d):(%d%d)%s*G?M?T?%s*$")
    if not d then return nil end
    local m = MONTHS[mon:lower()]
    if not m then return nil end
    h, mi, sec = tonumber(h), tonumber(mi), tonumber(sec)
    if h > 23 or mi > 59 or sec > 60 then return nil end
    return dates.civil_to_epoch(tonumber(y), m, tonumber(d), h, mi, sec)
end

-- Replaces every occurrence of each secret (plain text) with "<redacted>".
local function redact(s, secrets)
    if type(s) ~= "string" then return s end
    -- A signature-mismatch message quotes the canonical request, headers and token included.
    local cut = find(s, "The Canonical String for this request", 1, true)
    if cut then s = s:sub(1, cut - 1):gsub("%s+$", "") .. " (canonical request omitted)" end
    for i = 1, #secrets do
        local secret = secrets[i]
        if secret and #secret >= 4 then
            local out, pos = {}, 1
            while true do
                local a, b = find(s, secret, pos, true)
                if not a then break end
                out[#out + 1] = sub(s, pos, a - 1)
                out[#out + 1] = "<redacted>"
                pos = b + 1
            end
            if pos > 1 then
                out[#out + 1] = sub(s, pos)
                s = table.concat(out)
            end
        end
    end
    return s
end
M.redact = redact

local function excerpt(body)
    if not body or body == "" then return nil end
    local s = body
    if #s > M.EXCERPT then s = sub(s, 1, M.EXCERPT) .. "..." end
    return (s:gsub("[%z\1-\31\127]", " "))
end

local function is_clock_skew(f)
    local code, msg = f.code, f.message or ""
    if code == "RequestTimeTooSkewed" or code == "RequestExpired" or code == "RequestInTheFuture" then
        return true
    end
    if code == "InvalidSignatureException" or code == "SignatureDoesNotMatch" then
        return find(msg, "Signature expired", 1, true) ~= nil or find(msg, "not yet current", 1, true) ~= nil
    end
    return false
end

local function is_expired_token(f)
    return f.code == "ExpiredTokenException" or f.code == "ExpiredToken"
end

---------------------------------------------------------------------------
-- the client
---------------------------------------------------------------------------

local Client = {}
Client.__index = Client
M.Client = Client

function M.new(opts)
    opts = opts or {}
    local so = opts.server_options or {}
    local service = opts.service or "dynamodb"
    local ep = endpoint.resolve{ service = service, region = opts.region, server_options = so }
    local timeout = tonumber(so.request_timeout_ms)
    if not timeout or timeout <= 0 then timeout = M.DEFAULT_TIMEOUT_MS end
    local ca_file = so.ca_file
    if ca_file == "" then ca_file = nil end
    return setmetatable({
        opts = opts,
        service = service,
        service_name = opts.service_name or SERVICE_NAMES[service] or service,
        target_prefix = opts.target_prefix or "DynamoDB_20120810",
        content_type = opts.content_type or M.CONTENT_TYPE,
        region = ep.region,
        endpoint = ep.url,
        url = ep.url,
        path = ep.path,
        host_header = ep.host_header,
        max_retries = retry.max_retries(so),
        timeout_ms = floor(timeout),
        connect_timeout_ms = math.min(M.CONNECT_TIMEOUT_MS, floor(timeout)),
        ca_file = ca_file,
        stats = { requests = 0, retries = 0, throttled = 0 },
    }, Client)
end

function Client:secrets(creds)
    return { creds and creds.secret_access_key, creds and creds.session_token,
        creds and creds.access_key_id, self.last_signature }
end

function Client:log(creds, level, msg)
    capi.log(level, redact(msg, self:secrets(creds)))
end

-- Sends one HTTP request; returns what send_finish needs to collect it.
function Client:send_start(op, body, creds)
    local t0 = capi.now()
    local signed = {
        { "Host", self.host_header },
        { "Content-Type", self.content_type },
        { "X-Amz-Target", self.target_prefix .. "." .. op },
    }
    local sig = sigv4.sign({ method = "POST", path = self.path, headers = signed, body = body }, creds,
        { region = self.region, service = self.service, time = t0 + state().clock_offset })
    self.last_signature = sig.signature
    local lines = {}
    for i, h in ipairs(signed) do lines[i] = h[1] .. ": " .. h[2] end
    lines[#lines + 1] = "Accept-Encoding: identity"
    for _, h in ipairs(sig.headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end

    bump(self, "requests")
    local id = capi.http_start{ method = "POST", url = self.url, headers = lines,
        body = body, timeout_ms = self.timeout_ms, connect_timeout_ms = self.connect_timeout_ms,
        ca_file = self.ca_file }
    return { id = id, t0 = t0 }
end

-- Collects one HTTP exchange.  Returns nil, decoded response on success, or a failure
-- table { kind=, error_text= } | { status=, headers=, code=, message=, crc_mismatch=, malformed=, ... }.
function Client:send_finish(sent, op, creds, attempt)
    -- No pcall here: a query cancel raises from inside http_wait and must propagate.
    local status, rheaders, rbody = capi.http_wait(sent.id)
    local elapsed = (capi.now() - sent.t0) * 1000
    local f, outcome
    if not status then
        -- rheaders is the message, rbody the kind
        f = { kind = rbody or "other", error_text = tostring(rheaders) }
        outcome = fmt("%s error (%s)", f.kind, f.error_text)
    else
        rheaders = rheaders or {}
        rbody = rbody or ""
        outcome = "HTTP " .. floor(status)
        local crc = rheaders["x-amz-crc32"]
        if crc and tonumber(crc) ~= capi.crc32(rbody) then
            bump(self, "crc_mismatches")
            f = { status = status, headers = rheaders, crc_mismatch = true }
            outcome = outcome .. ", CRC32 mismatch"
        elseif status == 200 then
            local ok, doc = false, nil
            if rbody:match("^[ \t\r\n]*{") then ok, doc = pcall(cjson.decode, rbody) end
            if ok and type(doc) == "table" then
                self:log(creds, "DEBUG1", fmt("%s %s: %s, attempt %d, %.0f ms",
                    self.service_name, op, outcome, attempt, elapsed))
                return nil, doc
            end
            f = { status = status, headers = rheaders, malformed = true, body_excerpt = excerpt(rbody),
                error_text = (ok or doc == nil) and "not a JSON object" or ("invalid JSON: " .. tostring(doc)) }
            outcome = outcome .. ", malformed body"
        else
            local ok, doc = pcall(cjson.decode, rbody)
            if not ok or type(doc) ~= "table" then doc = nil end
            local code = aws_errors.parse_code(doc and doc.__type)
                or aws_errors.parse_code(rheaders["x-amzn-errortype"])
            local message = doc and (doc.message or doc.Message)
            if type(message) ~= "string" then message = nil end
            f = { status = status, headers = rheaders, code = code, message = message }
            if not code then f.body_excerpt = excerpt(rbody) end
            if doc and type(doc.CancellationReasons) == "table" then
                local reasons = {}
                for i, r in ipairs(doc.CancellationReasons) do
                    reasons[i] = type(r) == "table" and type(r.Code) == "string" and r.Code or "?"
                end
                f.reasons = reasons
            end
            if code then outcome = outcome .. " " .. code end
        end
    end
    self:log(creds, "DEBUG1", fmt("%s %s: %s, attempt %d, %.0f ms", self.service_name, op, outcome, attempt, elapsed))
    return f
end

function Client:fail(op, f, creds, attempts, throttled)
    local ctx = {
        failure = f.kind and "connection" or f.crc_mismatch and "crc" or f.malformed and "malformed"
            or f.code and "aws" or "http",
        service_name = self.service_name, service = self.service, operation = op,
        code = f.code, message = f.message, status = f.status, kind = f.kind, error_text = f.error_text,
        attempts = attempts, throttled = throttled, class = f.class,
        exhausted = f.class ~= nil and attempts > 1,
        max_retries = self.max_retries, timeout_ms = self.timeout_ms,
        region = self.region, url = self.url, reasons = f.reasons, body_excerpt = f.body_excerpt,
        creds_description = creds and creds.description,
    }
    local e = aws_errors.build(ctx)
    local secrets = self:secrets(creds)
    for k, v in pairs(e) do
        if type(v) == "string" then e[k] = redact(v, secrets) end
    end
    errors.raise(e)
end

-- start(op, params, once) -> pending: the request is on its way (pending.id is its HTTP transfer);
-- finish(pending) waits for it.  once: the request is not idempotent (an increment), so it is
-- not sent again after it may have reached DynamoDB (a lost answer is then an error).
-- Several pending requests of any clients run concurrently (parallel scans, write_concurrency).
function Client:start(op, params, once)
    local body = json.encode(params == nil and {} or params)
    local creds = credentials.resolve(self.opts)
    local sent = self:send_start(op, body, creds)
    return { op = op, body = body, creds = creds, sent = sent, id = sent.id, once = once }
end

-- finish(pending) -> the decoded response, after retries (each retry is sent and awaited here);
-- or errors.raise{...} as call() does.
function Client:finish(pending)
    local op, body, creds, sent = pending.op, pending.body, pending.creds, pending.sent
    local attempts, retries, throttled = 0, 0, 0
    local skew_fixed, creds_refreshed = false, false
    while true do
        attempts = attempts + 1
        local f, resp = self:send_finish(sent or self:send_start(op, body, creds), op, creds, attempts)
        sent = nil
        if not f then return resp end

        local again = false
        if not skew_fixed and f.status and is_clock_skew(f) then
            local server = M.parse_http_date(f.headers.date)
            if server then
                local A = state()
                A.clock_offset = server - capi.now()
                bump(self, "clock_skew_corrections")
                skew_fixed, again = true, true
                self:log(creds, "LOG", fmt("%s clock differs from the database server's by %.0f s; "
                    .. "signing with the corrected time", self.service_name, A.clock_offset))
            end
        elseif not creds_refreshed and creds.temporary and is_expired_token(f) then
            credentials.invalidate(creds)
            creds = credentials.resolve(self.opts)
            creds_refreshed, again = true, true
        end

        if not again then
            f.class = retry.classify(f)
            if f.class == "throttle" then
                throttled = throttled + 1
                bump(self, "throttled")
            end
            -- a request that must not be applied twice is sent again only if it never left
            local maybe_applied = pending.once and f.kind and f.kind ~= "connect"
            if not f.class or retries >= self.max_retries or maybe_applied then
                self:fail(op, f, creds, attempts, throttled)
            end
            retries = retries + 1
            bump(self, "retries")
            local ms = retry.backoff_ms(retries)
            self:log(creds, "DEBUG2", fmt("%s %s: retry %d of %d in %d ms", self.service_name, op,
                retries, self.max_retries, ms))
            capi.sleep(ms)
        end
    end
end

-- cancel(pending): the response is not wanted (its connection is closed, not reused).
function Client:cancel(pending)
    capi.http_cancel(pending.id)
end

function Client:call(op, params, once)
    return self:finish(self:start(op, params, once))
end

return M
