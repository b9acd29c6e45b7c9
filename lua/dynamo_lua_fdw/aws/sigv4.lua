-- AWS Signature Version 4: Authorization-header signing and presigned query
-- strings, for non-S3 services (paths are normalized unless told otherwise).
-- Only string handling lives here; SHA-256 and HMAC come from the C API.
--
--   req   = { method, path (decoded), query (raw string or nil),
--             headers = { {name, value}, ... } (ordered, repeats allowed), body }
--   creds = { access_key_id, secret_access_key, session_token (optional) }
--   opts  = { region, service, time (epoch seconds or "YYYYMMDDTHHMMSSZ"),
--             normalize (default true), sign_body, omit_session_token,
--             payload_hash (hex, optional), expires (presign only) }
-- sign() returns the headers to add plus the intermediate strings;
-- presign() returns the query string to put on the URL.
local capi = require "dynamo_lua_fdw.capi"
local dates = require "dynamo_lua_fdw.dates"

local sha256, hmac, hex = capi.sha256, capi.hmac_sha256, capi.hex
local byte, char, fmt, lower = string.byte, string.char, string.format, string.lower
local concat, sort, floor, tonumber, tostring = table.concat, table.sort, math.floor, tonumber, tostring

local M = {}

local ALGORITHM = "AWS4-HMAC-SHA256"

-- Explicit ASCII classes: %w and %s follow the C locale, which PostgreSQL may
-- set to a single-byte one where bytes >= 0x80 count as letters or spaces.
local NOT_UNRESERVED = "[^A-Za-z0-9%-%._~]"
local NOT_UNRESERVED_OR_SLASH = "[^A-Za-z0-9%-%._~/]"
local WS = "[ \t\r\n\v\f]+"

local function pct(c) return fmt("%%%02X", byte(c)) end
local function encode(s) return (s:gsub(NOT_UNRESERVED, pct)) end
local function decode(s)
    return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end
-- Trim, and squeeze inner whitespace runs (folded lines, quoted text too).
local function trimall(v)
    return (tostring(v):gsub(WS, " "):match("^ ?(.-) ?$"))
end

-- The UTC date and time of epoch seconds, as X-Amz-Date wants it.
function M.amz_date(t)
    t = floor(t)
    local days = floor(t / 86400)
    local secs = t - days * 86400
    local y, m, d = dates.civil_from_days(days)
    return fmt("%04d%02d%02dT%02d%02d%02dZ", y, m, d,
        floor(secs / 3600), floor(secs % 3600 / 60), secs % 60)
end

local function to_amz_date(time)
    if type(time) == "number" then return M.amz_date(time) end
    if type(time) == "string" and time:match("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$") then return time end
    error("sigv4: opts.time must be epoch seconds or \"YYYYMMDDTHHMMSSZ\", got " .. tostring(time), 3)
end

function M.signing_key(secret, date, region, service)
    local k = hmac("AWS4" .. secret, date)
    k = hmac(k, region)
    k = hmac(k, service)
    return hmac(k, "aws4_request")
end

-- The key changes once a day per (secret, region, service); saving three
-- HMACs per request is worth a tiny cache, flushed whole when it fills up.
local KEY_CACHE_MAX = 16
local key_cache, key_cache_n = {}, 0

local function cached_signing_key(secret, date, region, service)
    local ck = secret .. "\0" .. date .. "\0" .. region .. "\0" .. service
    local k = key_cache[ck]
    if not k then
        if key_cache_n >= KEY_CACHE_MAX then key_cache, key_cache_n = {}, 0 end
        k = M.signing_key(secret, date, region, service)
        key_cache[ck] = k
        key_cache_n = key_cache_n + 1
    end
    return k
end

-- Remove "." segments, resolve "..", collapse "//"; keep a trailing "/".
local function normalize_path(path)
    local out, n = {}, 0
    for seg in path:gmatch("[^/]+") do
        if seg == ".." then
            if n > 0 then out[n] = nil; n = n - 1 end
        elseif seg ~= "." then
            n = n + 1; out[n] = seg
        end
    end
    local p = "/" .. concat(out, "/")
    if n > 0 and path:sub(-1) == "/" then p = p .. "/" end
    return p
end

local function canonical_uri(path, normalize)
    path = path or "/"
    if normalize then path = normalize_path(path) elseif path == "" then path = "/" end
    -- Paths arrive decoded, so encode exactly once.
    return (path:gsub(NOT_UNRESERVED_OR_SLASH, pct))
end

-- Query string -> list of {encoded name, encoded value}; accepts raw or
-- percent-encoded input alike by decoding before re-encoding.
local function query_params(query)
    local params = {}
    if query then
        for part in query:gmatch("[^&]+") do
            local k, v = part:match("^([^=]*)=?(.*)$")
            params[#params + 1] = { encode(decode(k)), encode(decode(v)) }
        end
    end
    return params
end

-- Sort by name then value: sorting "name=value" strings would misplace
-- "Param-3" before "Param" ('-' < '=').
local function by_name_value(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
end

local function join_params(params)
    sort(params, by_name_value)
    local parts = {}
    for i = 1, #params do parts[i] = params[i][1] .. "=" .. params[i][2] end
    return concat(parts, "&")
end

-- Returns the canonical header block (each line ends in "\n") and the signed-header list.
local function canonical_headers(headers)
    local values, names = {}, {}
    for i = 1, #headers do
        local name, v = lower(headers[i][1]), trimall(headers[i][2])
        local prev = values[name]
        if prev then
            values[name] = prev .. "," .. v -- repeated headers: join in order, unsorted
        else
            values[name] = v
            names[#names + 1] = name
        end
    end
    sort(names)
    local lines = {}
    for i = 1, #names do lines[i] = names[i] .. ":" .. values[names[i]] .. "\n" end
    return concat(lines), concat(names, ";")
end

local function find_header(headers, lname)
    for i = 1, #headers do
        if lower(headers[i][1]) == lname then return headers[i][2] end
    end
end

-- Shared tail of both signing modes: canonical request -> string to sign -> signature.
local function finish(req, headers, cquery, amzdate, creds, opts, payload)
    local cheaders, signed = canonical_headers(headers)
    local creq = concat({ req.method, canonical_uri(req.path, opts.normalize ~= false),
        cquery, cheaders, signed, payload }, "\n")
    local date = amzdate:sub(1, 8)
    local scope = date .. "/" .. opts.region .. "/" .. opts.service .. "/aws4_request"
    local sts = concat({ ALGORITHM, amzdate, scope, hex(sha256(creq)) }, "\n")
    local key = cached_signing_key(creds.secret_access_key, date, opts.region, opts.service)
    return { canonical_request = creq, string_to_sign = sts, signed_headers = signed,
             signature = hex(hmac(key, sts)), scope = scope }
end

function M.sign(req, creds, opts)
    local given = req.headers or {}
    local headers, added = {}, {}
    for i = 1, #given do headers[i] = given[i] end
    local function add(name, value, signed)
        added[#added + 1] = { name, value }
        if signed then headers[#headers + 1] = added[#added] end
    end

    -- A date already on the request is the one AWS checks; sign with it.
    local amzdate = find_header(given, "x-amz-date")
    if amzdate then
        amzdate = trimall(amzdate)
    else
        amzdate = to_amz_date(opts.time)
        add("X-Amz-Date", amzdate, true)
    end
    local token = creds.session_token
    if token and not find_header(given, "x-amz-security-token") then
        add("X-Amz-Security-Token", token, not opts.omit_session_token)
    end
    local payload = opts.payload_hash or hex(sha256(req.body or ""))
    if opts.sign_body and not find_header(given, "x-amz-content-sha256") then
        add("x-amz-content-sha256", payload, true)
    end

    local r = finish(req, headers, join_params(query_params(req.query)), amzdate, creds, opts, payload)
    r.authorization = ALGORITHM .. " Credential=" .. creds.access_key_id .. "/" .. r.scope
        .. ", SignedHeaders=" .. r.signed_headers .. ", Signature=" .. r.signature
    add("Authorization", r.authorization, false)
    r.headers = added
    return r
end

-- Query-string signing: the auth parameters join the request's own query;
-- only the request's headers are signed. opts.expires defaults to 3600.
function M.presign(req, creds, opts)
    local amzdate = to_amz_date(opts.time)
    local headers = req.headers or {}
    local _, signed = canonical_headers(headers)
    local scope = amzdate:sub(1, 8) .. "/" .. opts.region .. "/" .. opts.service .. "/aws4_request"
    local params = query_params(req.query)
    local function add(name, value) params[#params + 1] = { name, encode(value) } end
    add("X-Amz-Algorithm", ALGORITHM)
    add("X-Amz-Credential", creds.access_key_id .. "/" .. scope)
    add("X-Amz-Date", amzdate)
    add("X-Amz-Expires", tostring(opts.expires or 3600))
    local token = creds.session_token
    if token and not opts.omit_session_token then add("X-Amz-Security-Token", token) end
    add("X-Amz-SignedHeaders", signed)

    local cquery = join_params(params)
    local payload = opts.payload_hash or hex(sha256(req.body or ""))
    local r = finish(req, headers, cquery, amzdate, creds, opts, payload)
    -- An omitted token still travels in the URL, just outside the signature.
    local unsigned = (token and opts.omit_session_token) and "&X-Amz-Security-Token=" .. encode(token) or ""
    r.query = cquery .. unsigned .. "&X-Amz-Signature=" .. r.signature
    return r
end

return M
