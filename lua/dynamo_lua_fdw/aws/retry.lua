-- Which failures are retried, and how long to wait before retrying.
--
--   retry.classify{ status=, code=, kind=, crc_mismatch=, malformed= }
--     -> "throttle" | "transient" | nil (do not retry)
--   retry.cap_ms(n)      the upper bound of the n-th retry's sleep (n = 1, 2, ...)
--   retry.backoff_ms(n)  the n-th retry's sleep: full jitter, an integer in [0, cap_ms(n)]
--
-- Backoff: cap_ms(n) = min(CAP_MS, BASE_MS * 2^(n-1)): 50, 100, 200, ... ms,
-- reaching the 20 s cap at the 11th retry.  Full jitter (AWS Architecture
-- Blog, "Exponential Backoff And Jitter"): sleep a uniform random time in
-- [0, cap], so that many clients throttled together do not retry together.
-- One base for every retryable failure, throttling included.
local M = {}

M.BASE_MS = 50
M.CAP_MS = 20000
M.DEFAULT_MAX_RETRIES = 10 -- the AWS SDKs' (legacy mode) default for DynamoDB

-- Replaced by tests to make the jitter predictable.
M.random = math.random

-- Throttling: botocore's ThrottledRetryableChecker list (standard mode).
M.THROTTLING = {
    ProvisionedThroughputExceededException = true,
    ThrottlingException = true,
    Throttling = true,
    ThrottledException = true,
    RequestThrottledException = true,
    RequestThrottled = true,
    TooManyRequestsException = true,
    RequestLimitExceeded = true,
    BandwidthLimitExceeded = true,
    SlowDown = true,
    PriorRequestNotComplete = true,
    EC2ThrottledException = true,
    TransactionInProgressException = true,
    LimitExceededException = true,
}

-- Retried though not throttling: modelled "retryable" errors and transient service errors.
M.TRANSIENT_CODES = {
    ReplicatedWriteConflictException = true,
    InternalServerError = true,
    InternalFailure = true,
    ServiceUnavailable = true,
    RequestTimeout = true,
    RequestTimeoutException = true,
}

-- Connection failures from capi.http_request worth another try.  "tls" and
-- "other" are not: a certificate problem does not fix itself.
M.RETRYABLE_KINDS = { connect = true, timeout = true, send = true, recv = true }

function M.classify(f)
    if f.kind then return M.RETRYABLE_KINDS[f.kind] and "transient" or nil end
    if f.crc_mismatch or f.malformed then return "transient" end
    if f.code and M.THROTTLING[f.code] then return "throttle" end
    if f.status == 429 then return "throttle" end
    if f.code and M.TRANSIENT_CODES[f.code] then return "transient" end
    if f.status and f.status >= 500 and f.status <= 599 then return "transient" end
    return nil
end

function M.cap_ms(n)
    if n < 1 then n = 1 end
    if n > 30 then return M.CAP_MS end
    return math.min(M.CAP_MS, M.BASE_MS * 2 ^ (n - 1))
end

function M.backoff_ms(n)
    return M.random(0, math.floor(M.cap_ms(n)))
end

-- The server option max_retries as a number (default 10; not negative).
function M.max_retries(server_options)
    local v = server_options and tonumber(server_options.max_retries)
    if not v then return M.DEFAULT_MAX_RETRIES end
    v = math.floor(v)
    if v < 0 then v = 0 end
    return v
end

return M
