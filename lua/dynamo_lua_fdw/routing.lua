-- Which endpoint, region and credentials serve a (region, table): one PostgreSQL in front of
-- several DynamoDB endpoints (regions, accounts, local shards).
--
--   server option region_endpoints 'us-east-1=http://localhost:8001, eu-west-1=http://localhost:8002'
--   server option router 'name' -> dynamo_lua_fdw/routers/<name>.lua, whose
--       route{region=, table=, server=, options=} returns nil (no change) or
--       {endpoint=, region=, access_key_id=, secret_access_key=, session_token=}
--
-- The router wins over region_endpoints, which wins over the server option endpoint.
local errors = require "dynamo_lua_fdw.errors"
local client_mod = require "dynamo_lua_fdw.aws.client"

local M = {}

-- "r1=url1, r2=url2" -> {r1 = url1, r2 = url2}
function M.parse_endpoints(text)
    local map = {}
    for part in tostring(text):gmatch("[^,]+") do
        local region, url = part:match("^%s*([%w-]+)%s*=%s*(%S+)%s*$")
        if not region then
            errors.raise{ sqlstate = "HV00D",
                message = string.format("invalid entry \"%s\" in option region_endpoints", part:match("^%s*(.-)%s*$")),
                hint = "Write region=URL pairs separated by commas, e.g. 'us-east-1=http://localhost:8001'." }
        end
        map[region] = url
    end
    return map
end

-- The regions of server option regions ("us-east-1, eu-west-1"), or nil.
function M.regions(server_options)
    if not server_options.regions then return nil end
    local list = {}
    for r in server_options.regions:gmatch("[^,%s]+") do list[#list + 1] = r end
    return #list > 0 and list or nil
end

local function router(name)
    local m = errors.require_script("router", name, "Server option router")
    if type(m) ~= "table" or type(m.route) ~= "function" then
        errors.raise{ sqlstate = "HV000", message = string.format("router script \"%s\" defines no route function", name) }
    end
    return m
end

-- client(rel, region, table_name) -> an AWS client for that region and table.
function M.client(rel, region, table_name)
    local so, user = rel.server.options, rel.user
    local endpoint = so.region_endpoints and region and M.parse_endpoints(so.region_endpoints)[region]
    local route = so.router and router(so.router).route{ region = region, table = table_name,
        server = rel.server.name, options = so }
    if route ~= nil and type(route) ~= "table" then
        errors.raise{ sqlstate = "HV000", message = string.format("router \"%s\" returned no table", so.router) }
    end
    if endpoint or route then
        local copy = {}
        for k, v in pairs(so) do copy[k] = v end
        copy.endpoint = route and route.endpoint or endpoint or so.endpoint
        so = copy
        if route and route.access_key_id then
            user = { access_key_id = route.access_key_id, secret_access_key = route.secret_access_key,
                     session_token = route.session_token }
        end
        region = route and route.region or region
    end
    return client_mod.new{ server_options = so, user_options = user, region = region }
end

return M
