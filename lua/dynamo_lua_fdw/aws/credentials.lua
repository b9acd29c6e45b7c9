-- The AWS credential chain.
--
--   credentials.resolve(opts) -> creds
--     opts  = { server_options = { profile= }, user_options = { access_key_id=,
--               secret_access_key=, session_token= } }
--     creds = { access_key_id, secret_access_key, session_token (or nil),
--               source (short name), description (for hints), temporary (bool),
--               expires_at (epoch seconds or nil), cache_key (or nil) }
--
-- Order (first source with credentials wins):
--   1. user mapping options access_key_id + secret_access_key [+ session_token]
--   2. an explicitly named profile: server option profile, else AWS_PROFILE
--      (credentials file "[name]", config file "[profile name]")
--   3. environment AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
--   4. profile "default" from the shared files (only when no profile was named)
--   5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended
--      to http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
--      Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN.  The variant
--      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE cannot be read through capi and
--      is not supported (the source is skipped with a note).
--   6. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED=true;
--      base URL from AWS_EC2_METADATA_SERVICE_ENDPOINT (default
--      http://169.254.169.254).
-- Sources 1-4 are re-read on every resolve (cheap); temporary credentials
-- from 5-6 are cached in capi.persistent() until 5 minutes before they expire.
-- Nothing here ever puts a key id, secret or token into a message or log line.
local capi = require "dynamo_lua_fdw.capi"
local cjson = require "cjson"
local errors = require "dynamo_lua_fdw.errors"
local dates = require "dynamo_lua_fdw.dates"
local endpoint = require "dynamo_lua_fdw.aws.endpoint"

local floor, fmt = math.floor, string.format

local M = {}

M.REFRESH_BEFORE_S = 300        -- refresh temporary credentials 5 minutes before expiry
M.NO_EXPIRY_CACHE_S = 900       -- temporary credentials without Expiration: re-fetch after 15 minutes
M.CONTAINER_HOST = "http://169.254.170.2"
M.IMDS_ENDPOINT = "http://169.254.169.254"
M.IMDS_TOKEN_TTL_S = 21600
M.METADATA_TIMEOUT_MS = 1000    -- like botocore: metadata services answer fast or not at all

local env, nonempty = endpoint.env, endpoint.nonempty

local function cache()
    local P = capi.persistent()
    P.aws = P.aws or {}
    P.aws.credentials = P.aws.credentials or {}
    return P.aws.credentials
end

-- Credentials print as their source only, so an accidental tostring() leaks nothing.
local creds_mt = {
    __tostring = function(c) return "AWS credentials from " .. (c.description or "?") end,
}

local function make(id, secret, token, source, description)
    return setmetatable({ access_key_id = id, secret_access_key = secret, session_token = nonempty(token),
        source = source, description = description, temporary = false }, creds_mt)
end

local function partial(where, missing, hint)
    errors.raise{ sqlstate = "28000", message = "incomplete AWS credentials in " .. where,
        detail = missing .. " is not set.", hint = hint }
end

---------------------------------------------------------------------------
-- dates
---------------------------------------------------------------------------


-- "2015-08-30T13:36:00Z", with optional fraction and "+hh:mm"/"-hhmm" offset.
function M.parse_iso8601(s)
    if type(s) ~= "string" then return nil end
    local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then return nil end
    rest = rest:gsub("^%.%d+", "")
    local offset = 0
    if rest == "Z" or rest == "z" or rest == "" then
        offset = 0
    else
        local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
        if not sign then return nil end
        offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
    end
    mo, d, h, mi, sec = tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
    if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
    return dates.civil_to_epoch(tonumber(y), mo, d, h, mi, sec) - offset
end

---------------------------------------------------------------------------
-- shared files
---------------------------------------------------------------------------

-- INI as the AWS SDKs read it: [section], key = value, # and ; comments,
-- indented lines continue a nested block (ignored here).  Keys lower-cased.
function M.parse_ini(text)
    local sections, current = {}, nil
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        line = line:gsub("\r$", "")
        if line:match("^%s*[#;]") or line:match("^%s*$") then
            -- comment or blank
        elseif line:match("^%s*%[") then
            local name = line:match("^%s*%[%s*(.-)%s*%]")
            if name then
                sections[name] = sections[name] or {}
                current = sections[name]
            else
                current = nil
            end
        elseif current and not line:match("^[ \t]") then
            local k, v = line:match("^([^=]-)%s*=%s*(.-)%s*$")
            if k and k ~= "" then current[k:lower()] = v end
        end
    end
    return sections
end

local function read_ini(kind)
    local text = capi.read_aws_file(kind)
    if not text then return nil end
    return M.parse_ini(text)
end

-- The profile's settings: the config file section ("[default]" or
-- "[profile default]" for default, "[profile name]" otherwise), overridden by
-- the credentials file section "[name]".  nil when neither file has it.
function M.load_profile(name)
    local config, creds = read_ini("config"), read_ini("credentials")
    local merged, found = {}, false
    if config then
        local s = config["profile " .. name] or (name == "default" and config.default) or nil
        if s then
            found = true
            for k, v in pairs(s) do merged[k] = v end
        end
    end
    if creds and creds[name] then
        found = true
        for k, v in pairs(creds[name]) do merged[k] = v end
    end
    return found and merged or nil
end

-- profile_name(opts) -> name, explicit
function M.profile_name(opts)
    local so = opts and opts.server_options or {}
    local name = nonempty(so.profile)
    if name then return name, true end
    name = env("AWS_PROFILE")
    if name then return name, true end
    return "default", false
end

local UNSUPPORTED_PROFILE_KEYS = { "role_arn", "credential_process", "sso_session", "sso_start_url",
    "web_identity_token_file" }

-- Static credentials of a profile, or nil plus a note on why not.
local function from_profile(name, explicit, notes)
    local p = M.load_profile(name)
    if not p then
        if explicit then
            errors.raise{ sqlstate = "28000", message = "AWS profile \"" .. name .. "\" not found",
                detail = "Neither the shared credentials file nor the shared config file of the "
                    .. "PostgreSQL server's operating-system user has it.",
                hint = "Check the server option profile or AWS_PROFILE; the files are ~/.aws/credentials "
                    .. "and ~/.aws/config, or AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE." }
        end
        return nil
    end
    local id, secret = nonempty(p.aws_access_key_id), nonempty(p.aws_secret_access_key)
    local where = "profile \"" .. name .. "\""
    if id and not secret then
        partial(where, "aws_secret_access_key", "Set both aws_access_key_id and aws_secret_access_key in the profile.")
    elseif secret and not id then
        partial(where, "aws_access_key_id", "Set both aws_access_key_id and aws_secret_access_key in the profile.")
    end
    if id then
        return make(id, secret, p.aws_session_token, "profile",
            where .. " in the shared AWS credentials/config files")
    end
    for _, k in ipairs(UNSUPPORTED_PROFILE_KEYS) do
        if p[k] then
            notes[#notes + 1] = fmt("Profile \"%s\" uses %s, which dynamo_lua_fdw does not support; "
                .. "only aws_access_key_id, aws_secret_access_key and aws_session_token are read.", name, k)
            break
        end
    end
    return nil
end

---------------------------------------------------------------------------
-- temporary credentials over HTTP (container, IMDS)
---------------------------------------------------------------------------

local function cached(key)
    local c = cache()[key]
    if c and capi.now() < c.refresh_at then return c end
    return nil
end

-- Builds and caches credentials from a container/IMDS JSON document.
local function temporary_from_json(doc, source, description, key)
    local id, secret = nonempty(doc.AccessKeyId), nonempty(doc.SecretAccessKey)
    if type(doc.AccessKeyId) ~= "string" or type(doc.SecretAccessKey) ~= "string" or not id or not secret then
        return nil
    end
    local token = type(doc.Token) == "string" and doc.Token or nil
    local c = make(id, secret, token, source, description)
    c.temporary = true
    c.cache_key = key
    local now = capi.now()
    local expires = M.parse_iso8601(doc.Expiration)
    c.expires_at = expires
    c.refresh_at = expires and expires - M.REFRESH_BEFORE_S or now + M.NO_EXPIRY_CACHE_S
    -- Credentials that are already within the refresh window are used once, not cached.
    if c.refresh_at > now then cache()[key] = c end
    return c
end

local function decode_object(body)
    local ok, doc = pcall(cjson.decode, body or "")
    if ok and type(doc) == "table" then return doc end
    return nil
end

-- Loopback, the ECS and EKS addresses: the only plain-http hosts botocore allows.
local ALLOWED_HTTP_HOSTS = { ["127.0.0.1"] = true, ["localhost"] = true, ["[::1]"] = true,
    ["169.254.170.2"] = true, ["169.254.170.23"] = true, ["[fd00:ec2::23]"] = true }

local function container_url()
    local rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if rel then
        if rel:sub(1, 1) ~= "/" then rel = "/" .. rel end
        return M.CONTAINER_HOST .. rel
    end
    local full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not full then return nil end
    local u = endpoint.parse(full)
    local host = u and u.host:lower()
    if not u or (u.scheme == "http" and not ALLOWED_HTTP_HOSTS[host] and not host:match("^127%.")) then
        errors.raise{ sqlstate = "28000",
            message = "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an allowed URL",
            hint = "It must use https, or http with a loopback address or the container "
                .. "credentials addresses 169.254.170.2 / 169.254.170.23." }
    end
    return full
end

local function from_container(notes)
    local url = container_url()
    if not url then return nil end
    local token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if not token and env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") then
        notes[#notes + 1] = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is set, but dynamo_lua_fdw cannot read "
            .. "token files; set AWS_CONTAINER_AUTHORIZATION_TOKEN in the server's environment instead."
        return nil
    end
    local key = "container\0" .. url
    local c = cached(key)
    if c then return c end
    local headers = { "Accept: application/json" }
    if token then headers[#headers + 1] = "Authorization: " .. token end
    local description = "the container credentials endpoint " .. url
    local status, _, body, why
    for attempt = 1, 2 do
        status, why, body = capi.http_request{ method = "GET", url = url, headers = headers,
            timeout_ms = 2 * M.METADATA_TIMEOUT_MS, connect_timeout_ms = M.METADATA_TIMEOUT_MS }
        if status and status < 500 then break end
        if attempt == 1 then capi.sleep(100) end
    end
    if status == 200 then
        local doc = decode_object(body)
        c = doc and temporary_from_json(doc, "container", description, key)
        if c then return c end
        why = "the response has no AccessKeyId and SecretAccessKey"
    elseif status then
        why = "HTTP " .. floor(status)
    end
    errors.raise{ sqlstate = "28000",
        message = "could not get AWS credentials from the container credentials endpoint",
        detail = fmt("The request to %s failed: %s.", url, tostring(why)),
        hint = "Check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / AWS_CONTAINER_CREDENTIALS_FULL_URI and "
            .. "AWS_CONTAINER_AUTHORIZATION_TOKEN in the PostgreSQL server's environment, "
            .. "or give credentials in the user mapping." }
end

local function imds_get(url, token)
    return capi.http_request{ method = "GET", url = url,
        headers = { "X-aws-ec2-metadata-token: " .. token },
        timeout_ms = M.METADATA_TIMEOUT_MS, connect_timeout_ms = M.METADATA_TIMEOUT_MS }
end

local function from_imds(notes)
    local disabled = env("AWS_EC2_METADATA_DISABLED")
    if disabled and disabled:lower() == "true" then
        notes[#notes + 1] = "The EC2 instance metadata service was skipped: AWS_EC2_METADATA_DISABLED is true."
        return nil
    end
    local base = (env("AWS_EC2_METADATA_SERVICE_ENDPOINT") or M.IMDS_ENDPOINT):gsub("/+$", "")
    local key = "imds\0" .. base
    local c = cached(key)
    if c then return c end
    local function unavailable(what)
        notes[#notes + 1] = "The EC2 instance metadata service at " .. base .. " gave no credentials: " .. what .. "."
        return nil
    end
    local status, why, token = capi.http_request{ method = "PUT", url = base .. "/latest/api/token",
        headers = { "X-aws-ec2-metadata-token-ttl-seconds: " .. M.IMDS_TOKEN_TTL_S }, body = "",
        timeout_ms = M.METADATA_TIMEOUT_MS, connect_timeout_ms = M.METADATA_TIMEOUT_MS }
    if not status then return unavailable(tostring(why)) end
    if status ~= 200 or not nonempty(token) then
        return unavailable("the session token request (IMDSv2) got HTTP " .. floor(status))
    end
    token = nonempty(token)
    local list_url = base .. "/latest/meta-data/iam/security-credentials/"
    local body
    status, why, body = imds_get(list_url, token)
    if not status then return unavailable(tostring(why)) end
    if status == 404 then return unavailable("no IAM role is attached to the instance") end
    local role = status == 200 and nonempty((body or ""):match("^%s*([^\r\n]*)")) or nil
    if not role then
        return unavailable("the IAM role request got HTTP " .. floor(status))
    end
    status, why, body = imds_get(list_url .. role, token)
    if not status then return unavailable(tostring(why)) end
    if status ~= 200 then return unavailable("the credentials request got HTTP " .. floor(status)) end
    local doc = decode_object(body)
    if doc and doc.Code and doc.Code ~= "Success" then
        return unavailable("the credentials document has Code " .. tostring(doc.Code))
    end
    c = doc and temporary_from_json(doc, "imds",
        "the EC2 instance metadata service (IAM role \"" .. role .. "\")", key)
    if not c then return unavailable("the credentials document has no AccessKeyId and SecretAccessKey") end
    return c
end

---------------------------------------------------------------------------
-- the chain
---------------------------------------------------------------------------

M.SOURCES = {
    "the user mapping options access_key_id and secret_access_key",
    "the profile named by the server option profile or AWS_PROFILE",
    "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "profile \"default\" in the shared files ~/.aws/credentials and ~/.aws/config",
    "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI)",
    "the EC2 instance metadata service",
}

local function from_user_mapping(opts)
    local uo = opts.user_options or {}
    local id, secret = nonempty(uo.access_key_id), nonempty(uo.secret_access_key)
    local hint = "Set both access_key_id and secret_access_key in the user mapping "
        .. "(ALTER USER MAPPING ... OPTIONS (ADD ...)), or neither to use the server's credentials."
    if id and not secret then partial("the user mapping", "secret_access_key", hint) end
    if secret and not id then partial("the user mapping", "access_key_id", hint) end
    if not id and nonempty(uo.session_token) then partial("the user mapping", "access_key_id", hint) end
    if id then
        return make(id, secret, uo.session_token, "user mapping",
            "the user mapping options access_key_id and secret_access_key")
    end
end

local function from_env()
    local id, secret = env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")
    local hint = "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the PostgreSQL server's environment, or neither."
    if id and not secret then partial("the environment", "AWS_SECRET_ACCESS_KEY", hint) end
    if secret and not id then partial("the environment", "AWS_ACCESS_KEY_ID", hint) end
    if id then
        return make(id, secret, env("AWS_SESSION_TOKEN"), "environment",
            "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the PostgreSQL server")
    end
end

function M.resolve(opts)
    opts = opts or {}
    local notes = {}
    local c = from_user_mapping(opts)
    if c then return c end
    -- A server a non-superuser owns (and so may point anywhere) never lends out the database
    -- server's own credentials: only its user mappings' (src/fdw.c marks such servers).
    if (opts.server_options or {})._ambient_credentials == "false" then
        errors.raise{ sqlstate = "28000", message = "no AWS credentials in the user mapping",
            detail = "The server is owned by a role that is not a superuser, so the PostgreSQL server's own "
                .. "credentials (environment, files, container, instance metadata) are not used for it.",
            hint = "Give access_key_id and secret_access_key in the user mapping, or let a superuser own the server." }
    end
    local name, explicit = M.profile_name(opts)
    if explicit then
        c = from_profile(name, true, notes)
        if c then return c end
    end
    c = from_env()
    if c then return c end
    if not explicit then
        c = from_profile("default", false, notes)
        if c then return c end
    end
    if env("AWS_WEB_IDENTITY_TOKEN_FILE") or env("AWS_ROLE_ARN") then
        notes[#notes + 1] = "AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN (web identity) are not supported."
    end
    c = from_container(notes)
    if c then return c end
    c = from_imds(notes)
    if c then return c end
    local tried = {}
    for i, s in ipairs(M.SOURCES) do
        if i == 2 then
            s = explicit and ("profile \"" .. name .. "\" (named by the server option profile or AWS_PROFILE)") or
                (s .. " (none named)")
        end
        if i == 4 and explicit then s = s .. " (skipped: a profile was named)" end
        tried[i] = i .. ". " .. s
    end
    errors.raise{ sqlstate = "28000", message = "no AWS credentials found",
        detail = #notes > 0 and table.concat(notes, " ") or nil,
        hint = "Looked in this order: " .. table.concat(tried, "; ")
            .. ". Environment variables and files are those of the PostgreSQL server process." }
end

-- Forgets cached temporary credentials (after AWS reported them expired or invalid).
function M.invalidate(creds)
    if creds and creds.cache_key then cache()[creds.cache_key] = nil end
end

-- Removes every cached credential (tests, or a user's explicit reset).
function M.clear_cache()
    local P = capi.persistent()
    if P.aws then P.aws.credentials = {} end
end

return M
