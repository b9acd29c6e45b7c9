-- Region and endpoint resolution for the AWS JSON protocol client.
--
--   endpoint.resolve{ service = "dynamodb", region = <override or nil>,
--                     server_options = { region=, endpoint=, profile= } }
--     -> { region, url, scheme, host, port (number or nil), path, host_header,
--          region_source, endpoint_source }
--
-- Region, first found: the override (e.g. from a WHERE clause), the server
-- option region, AWS_REGION, AWS_DEFAULT_REGION, the "region" key of the
-- profile (server option profile, else AWS_PROFILE, else "default") in the
-- shared config file.  None: error 22023.
-- Endpoint, first found: the server option endpoint, AWS_ENDPOINT_URL_<SERVICE>
-- (e.g. AWS_ENDPOINT_URL_DYNAMODB), AWS_ENDPOINT_URL, else
-- https://<service>.<region>.amazonaws.com (".com.cn" for cn-* regions).
-- Environment variables are the PostgreSQL server process's (capi.getenv).
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"

local M = {}

local function env(name)
    local v = capi.getenv(name)
    if v == nil or v == "" then return nil end
    return v
end
M.env = env

local function nonempty(v)
    if v == nil then return nil end
    v = tostring(v):match("^%s*(.-)%s*$")
    if v == "" then return nil end
    return v
end
M.nonempty = nonempty

-- parse(url) -> { scheme, host, port, path, authority } or nil, reason.
-- host keeps IPv6 brackets ("[::1]"); authority is host[:port] as written.
function M.parse(url)
    if type(url) ~= "string" then return nil, "not a string" end
    local scheme, rest = url:match("^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
    if not scheme then return nil, "missing scheme (expected http:// or https://)" end
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then
        return nil, "unsupported scheme \"" .. scheme .. "\" (expected http or https)"
    end
    local authority, path = rest:match("^([^/?#]*)(.*)$")
    if authority:find("@", 1, true) then
        return nil, "user information in the URL is not allowed"
    end
    if path:find("[?#]") then return nil, "a query string or fragment is not allowed" end
    if path == "" then path = "/" end
    local host, port
    if authority:sub(1, 1) == "[" then
        host, port = authority:match("^(%[[0-9A-Fa-f:.]+%])(.*)$")
        if not host then return nil, "malformed IPv6 address" end
    else
        host, port = authority:match("^([^:]*)(.*)$")
    end
    if host == "" then return nil, "missing host" end
    if not host:match("^%[") and not host:match("^[A-Za-z0-9._-]+$") then
        return nil, "invalid host name \"" .. host .. "\""
    end
    if port ~= "" then
        port = port:match("^:(%d+)$")
        if not port or tonumber(port) < 1 or tonumber(port) > 65535 then
            return nil, "invalid port"
        end
        port = tonumber(port)
    else
        port = nil
    end
    return { scheme = scheme, host = host, port = port, path = path, authority = authority }
end

-- region(opts) -> region, source  (raises 22023 when none is configured)
function M.region(opts)
    local so = opts.server_options or {}
    local region, source = nonempty(opts.region), "the region given for this query"
    if not region then region, source = nonempty(so.region), "the server option region" end
    if not region then region, source = env("AWS_REGION"), "the environment variable AWS_REGION" end
    if not region then
        region, source = env("AWS_DEFAULT_REGION"), "the environment variable AWS_DEFAULT_REGION"
    end
    if not region then
        local credentials = require "dynamo_lua_fdw.aws.credentials"
        local name = credentials.profile_name(opts)
        local p = credentials.load_profile(name)
        region = p and nonempty(p.region)
        source = "profile \"" .. name .. "\" in the shared AWS config file"
    end
    if not region then
        errors.raise{ sqlstate = "22023", message = "no AWS region configured",
            hint = "Set the server option region (for example OPTIONS (ADD region 'us-east-1')), "
                .. "or AWS_REGION in the PostgreSQL server's environment, "
                .. "or region in the profile of the shared AWS config file." }
    end
    if not region:match("^[a-z0-9][a-z0-9-]*$") or #region > 64 then
        errors.raise{ sqlstate = "22023", message = "invalid AWS region \"" .. region .. "\"",
            detail = "The region came from " .. source .. ".",
            hint = "A region name looks like \"us-east-1\": lower-case letters, digits and hyphens." }
    end
    return region, source
end

function M.default_url(service, region)
    local suffix = region:match("^cn%-") and "amazonaws.com.cn" or "amazonaws.com"
    return "https://" .. service .. "." .. region .. "." .. suffix
end

function M.resolve(opts)
    opts = opts or {}
    local so = opts.server_options or {}
    local service = opts.service or "dynamodb"
    local region, region_source = M.region(opts)
    local env_name = "AWS_ENDPOINT_URL_" .. service:upper():gsub("[^A-Z0-9]", "_")
    local url, source = nonempty(so.endpoint), "the server option endpoint"
    if not url then url, source = env(env_name), "the environment variable " .. env_name end
    if not url then url, source = env("AWS_ENDPOINT_URL"), "the environment variable AWS_ENDPOINT_URL" end
    if not url then url, source = M.default_url(service, region), "the region" end
    local u, why = M.parse(url)
    if not u then
        errors.raise{ sqlstate = "22023", message = "invalid endpoint URL \"" .. url .. "\": " .. why,
            detail = "The endpoint came from " .. source .. ".",
            hint = "Use a URL like https://dynamodb.us-east-1.amazonaws.com or http://localhost:8000." }
    end
    u.url = u.scheme .. "://" .. u.authority .. u.path
    u.host_header = u.authority
    u.region, u.region_source, u.endpoint_source = region, region_source, source
    return u
end

return M
