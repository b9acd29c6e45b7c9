-- AWS error responses and transport failures -> PostgreSQL errors
-- (SQLSTATE, message, detail, hint).  docs/ERRORS.md is the same table in prose.
--
--   aws_errors.parse_code(__type or x-amzn-errortype) -> code
--   aws_errors.build(ctx) -> error table for errors.raise (not raised here)
--
-- ctx fields: failure = "aws" | "http" | "connection" | "crc" | "malformed",
--   service_name ("DynamoDB"), operation, code, message (AWS text), status,
--   kind (connection failures), error_text (transport message), attempts,
--   exhausted (true when retries ran out), class ("throttle"/"transient"),
--   max_retries, timeout_ms, region, url, creds_description, reasons
--   (TransactionCanceledException CancellationReasons codes), body_excerpt.
-- The result carries aws_code, retryable, http_status and attempts besides
-- sqlstate/message/detail/hint.  Callers scrub secrets from it before raising.
local fmt, concat = string.format, table.concat

local M = {}

M.MAX_AWS_MESSAGE = 2000

-- The part of "__type" after the last '#', without anything after ':'.
-- "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" -> "ResourceNotFoundException"
-- "UnrecognizedClientException:http://internal.amazon.com/coral/..." -> "UnrecognizedClientException"
function M.parse_code(t)
    if type(t) ~= "string" or t == "" then return nil end
    local code = t:match("([^#]*)$")
    code = code:match("^([^:]*)")
    code = code:match("^%s*(.-)%s*$")
    if code == "" then return nil end
    return code
end

-- Credential problems: 28000 invalid_authorization_specification.
M.AUTH_CODES = {
    UnrecognizedClientException = true, InvalidClientTokenId = true,
    InvalidSignatureException = true, SignatureDoesNotMatch = true,
    MissingAuthenticationTokenException = true, MissingAuthenticationToken = true,
    IncompleteSignatureException = true, IncompleteSignature = true,
    ExpiredTokenException = true, ExpiredToken = true,
    RequestExpired = true, RequestTimeTooSkewed = true, RequestInTheFuture = true,
    InvalidAccessKeyId = true,
}

-- The code -> SQLSTATE table (codes not listed, and not retryable, give HV000).
M.SQLSTATE = {
    ResourceNotFoundException = "HV00R",                  -- fdw_table_not_found
    AccessDeniedException = "42501", AccessDenied = "42501", -- insufficient_privilege
    ValidationException = "22023", ValidationError = "22023", -- invalid_parameter_value
    IdempotentParameterMismatchException = "22023",
    ConditionalCheckFailedException = "23505",            -- unique_violation
    TransactionCanceledException = "40001",               -- serialization_failure
    TransactionConflictException = "40001",
    ReplicatedWriteConflictException = "40001",
    ItemCollectionSizeLimitExceededException = "54000",   -- program_limit_exceeded
    ResourceInUseException = "55006",                     -- object_in_use
}
for code in pairs(M.AUTH_CODES) do M.SQLSTATE[code] = "28000" end

-- TransactionCanceledException: the CancellationReasons codes (one per action) that decide the
-- outcome, most decisive first. An invalid request or a false condition stays so when retried;
-- a conflict or throttling may not.
M.CANCELLATION = {
    { code = "ValidationError", sqlstate = "22023",
      hint = "DynamoDB refused a write of the transaction as invalid." },
    { code = "ItemCollectionSizeLimitExceeded", sqlstate = "54000",
      hint = "With a local secondary index, all items sharing one partition key value are limited to 10 GB." },
    { code = "ConditionalCheckFailed", sqlstate = "23505",
      hint = "A condition of this write was false (for a write that must create its item: the item exists already); retrying will not help until the item changes." },
    { code = "TransactionConflict", sqlstate = "40001",
      hint = "Another request was changing the item at the same time; retry the transaction." },
    { code = "ProvisionedThroughputExceeded", sqlstate = "53000",
      hint = "Raise the table's capacity (provisioned write capacity units, or on-demand mode), or retry later." },
    { code = "ThrottlingError", sqlstate = "53000",
      hint = "DynamoDB throttled the transaction; retry later, or raise the table's capacity." },
}

-- cancellation(reasons) -> index (1-based action), code, SQLSTATE of the reason that decides a
-- cancelled transaction; nil when no reason other than "None" is known.
-- An unknown code decides only when no known one is there, and then as 40001.
function M.cancellation(reasons)
    if type(reasons) ~= "table" then return nil end
    for _, c in ipairs(M.CANCELLATION) do
        for i, code in ipairs(reasons) do
            if code == c.code then return i, code, c.sqlstate end
        end
    end
    for i, code in ipairs(reasons) do
        if code ~= "None" then return i, code, "40001" end
    end
    return nil
end

-- The hint for a decisive cancellation reason, or nil.
function M.cancellation_hint(code)
    for _, c in ipairs(M.CANCELLATION) do
        if c.code == code then return c.hint end
    end
    return nil
end

local function aws_text(code, message)
    if message and message ~= "" then return code .. ": " .. message end
    return code
end

local function auth_hint(ctx)
    local from = ctx.creds_description or "the credential chain"
    local code = ctx.code
    if code == "ExpiredTokenException" or code == "ExpiredToken" then
        return fmt("The session token has expired; renew the temporary credentials, which came from %s.", from)
    elseif code == "InvalidSignatureException" or code == "SignatureDoesNotMatch"
        or code == "RequestExpired" or code == "RequestTimeTooSkewed" or code == "RequestInTheFuture" then
        return fmt("Check the secret access key, which came from %s, and that the database server's clock is right.", from)
    elseif code == "MissingAuthenticationTokenException" or code == "MissingAuthenticationToken"
        or code == "IncompleteSignatureException" or code == "IncompleteSignature" then
        return fmt("The request was not signed as the service expects; check the endpoint (%s) and the "
            .. "credentials, which came from %s.", ctx.url or "?", from)
    end
    return fmt("Check the access key id and session token, which came from %s. Credentials are looked up in "
        .. "this order: user mapping options, the server option profile or AWS_PROFILE, the environment "
        .. "variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, profile \"default\", container credentials, "
        .. "EC2 instance metadata.", from)
end

local function limit(s)
    if s and #s > M.MAX_AWS_MESSAGE then s = s:sub(1, M.MAX_AWS_MESSAGE) .. "..." end
    return s
end

local function retries_hint(ctx)
    return fmt("The server option max_retries (now %d) sets how often a failed request is retried.",
        ctx.max_retries or 0)
end

local WRITES = { PutItem = true, UpdateItem = true, DeleteItem = true, BatchWriteItem = true,
    TransactWriteItems = true, ExecuteStatement = true, ExecuteTransaction = true, BatchExecuteStatement = true }

-- An AWS error with a code (given up on at once, or after retries).
local function aws_error(ctx)
    local svc, op, code = ctx.service_name, ctx.operation, ctx.code
    local text = aws_text(code, limit(ctx.message))
    local after = ctx.exhausted and fmt(" after %d attempts", ctx.attempts) or ""
    local e = { message = fmt("%s %s failed%s: %s", svc, op, after, text) }
    if ctx.class == "throttle" then
        e.sqlstate = "53000" -- insufficient_resources
        e.detail = fmt("%s throttled the request %d times.", svc, ctx.throttled or ctx.attempts or 1)
        e.hint = fmt("Raise the server option max_retries (now %d) or the table's capacity "
            .. "(provisioned read/write capacity units, or on-demand mode), or make the statement read or write less.",
            ctx.max_retries or 0)
        return e
    end
    e.sqlstate = M.SQLSTATE[code]
    if not e.sqlstate then
        if ctx.class == "transient" or (ctx.status and ctx.status >= 500) then
            -- A retryable service error that kept failing: report it like an HTTP 5xx.
            e.sqlstate = "HV000"
            e.message = fmt("%s returned HTTP %d for %s%s", svc, ctx.status or 0, op, after)
            e.detail = text .. (WRITES[op] and " A write that failed this way may or may not have been applied." or "")
            e.hint = "Retry later. " .. retries_hint(ctx)
            return e
        end
        e.sqlstate = "HV000"
        return e
    end
    if e.sqlstate == "28000" then
        e.hint = auth_hint(ctx)
    elseif e.sqlstate == "HV00R" then
        e.hint = fmt("Check the table (or index) name and the region: the request went to region \"%s\" at %s. "
            .. "A table that is still being created is not found either.", ctx.region or "?", ctx.url or "?")
    elseif e.sqlstate == "42501" then
        e.hint = fmt("The IAM identity of the credentials from %s needs permission for %s:%s on this resource.",
            ctx.creds_description or "the credential chain", ctx.service or "dynamodb", op)
    elseif code == "TransactionCanceledException" then
        if ctx.reasons and #ctx.reasons > 0 then
            e.detail = "Cancellation reasons, one per action: " .. concat(ctx.reasons, ", ") .. "."
        end
        local _, reason = M.cancellation(ctx.reasons)
        e.hint = M.cancellation_hint(reason) or ("A reason of ConditionalCheckFailed means a condition was false; "
            .. "TransactionConflict means another request changed an item at the same time and retrying may succeed.")
    elseif code == "TransactionConflictException" or code == "ReplicatedWriteConflictException" then
        e.hint = "Another request changed the same item at the same time; retry the statement."
    elseif code == "ItemCollectionSizeLimitExceededException" then
        e.hint = "With a local secondary index, all items sharing one partition key value are limited to 10 GB."
    end
    return e
end

local function http_error(ctx)
    local svc, op = ctx.service_name, ctx.operation
    local after = ctx.exhausted and fmt(" after %d attempts", ctx.attempts) or ""
    local e = { sqlstate = "HV000", message = fmt("%s returned HTTP %d for %s%s", svc, ctx.status or 0, op, after) }
    if ctx.status and ctx.status >= 500 then
        e.detail = (ctx.body_excerpt and ("Response: " .. ctx.body_excerpt) or "")
        if WRITES[op] then
            e.detail = e.detail .. (e.detail ~= "" and " " or "") .. "A write that failed this way may or may not have been applied."
        end
        if e.detail == "" then e.detail = nil end
        e.hint = "Retry later. " .. retries_hint(ctx)
    else
        e.detail = ctx.body_excerpt and ("Response: " .. ctx.body_excerpt) or nil
        e.hint = fmt("Check that the endpoint %s is a %s endpoint.", ctx.url or "?", svc)
    end
    return e
end

local function connection_error(ctx)
    local svc, op, kind, url = ctx.service_name, ctx.operation, ctx.kind, ctx.url or "?"
    local why = ctx.error_text or kind
    local e = { sqlstate = "HV00N" } -- fdw_unable_to_establish_connection
    if kind == "tls" then
        e.message = fmt("could not establish a TLS connection to %s at %s: %s", svc, url, why)
        e.hint = "Check that the endpoint's certificate is valid for its host name and signed by a trusted "
            .. "certificate authority; the server option ca_file names a PEM file of CA certificates to trust "
            .. "instead of the system's."
        return e
    elseif kind == "connect" then
        e.message = fmt("could not connect to %s at %s: %s", svc, url, why)
        e.hint = "Check the server options endpoint and region, and that the database server can reach the endpoint."
    elseif kind == "timeout" then
        e.message = fmt("%s %s timed out: %s", svc, op, why)
        e.hint = fmt("The server option request_timeout_ms (now %d) limits each request. %s",
            ctx.timeout_ms or 0, retries_hint(ctx))
    elseif kind == "send" or kind == "recv" then
        e.message = fmt("lost the connection to %s during %s: %s", svc, op, why)
        e.hint = "Check the network between the database server and " .. url .. ". " .. retries_hint(ctx)
    else
        e.message = fmt("could not send the %s %s request to %s: %s", svc, op, url, why)
        e.hint = "Check the server option endpoint."
    end
    if ctx.attempts and ctx.attempts > 1 then e.detail = fmt("Tried %d times.", ctx.attempts) end
    if WRITES[op] and (kind == "timeout" or kind == "recv") then
        e.detail = (e.detail and e.detail .. " " or "") .. "The write may or may not have been applied."
    end
    return e
end

function M.build(ctx)
    local e
    local f = ctx.failure
    if f == "aws" then
        e = aws_error(ctx)
    elseif f == "http" then
        e = http_error(ctx)
    elseif f == "connection" then
        e = connection_error(ctx)
    elseif f == "crc" then
        e = { sqlstate = "HV000",
            message = fmt("%s %s response failed its CRC32 check%s", ctx.service_name, ctx.operation,
                ctx.exhausted and fmt(" %d times", ctx.attempts) or ""),
            detail = "The x-amz-crc32 header does not match the response body.",
            hint = "The response was damaged on its way; check proxies and the network between the database "
                .. "server and the endpoint. " .. retries_hint(ctx) }
    elseif f == "malformed" then
        e = { sqlstate = "HV000",
            message = fmt("malformed response from %s %s%s: %s", ctx.service_name, ctx.operation,
                ctx.exhausted and fmt(" (%d attempts)", ctx.attempts) or "", ctx.error_text or "not a JSON object"),
            detail = ctx.body_excerpt and ("Response: " .. ctx.body_excerpt) or nil,
            hint = fmt("Check that the endpoint %s is a %s endpoint. %s", ctx.url or "?", ctx.service_name,
                retries_hint(ctx)) }
    else
        error("aws.errors.build: unknown failure " .. tostring(f))
    end
    e.aws_code = ctx.code
    e.retryable = ctx.class ~= nil
    e.http_status = ctx.status
    e.attempts = ctx.attempts
    e.cancellation_reasons = ctx.reasons
    -- a cancelled transaction: the decisive reason's SQLSTATE (23505 for a false condition)
    local _, _, sqlstate = M.cancellation(ctx.reasons)
    if ctx.code == "TransactionCanceledException" and sqlstate then e.sqlstate = sqlstate end
    return e
end

return M
