-- Which endpoint and credentials serve a (region, table).
local T = require "testlib"
-- the real client and a fresh routing module, whatever earlier test files left loaded
local saved = {}
for _, name in ipairs({ "dynamo_lua_fdw.aws.client", "dynamo_lua_fdw.routing" }) do
    saved[name] = package.loaded[name]
    package.loaded[name] = nil
end
local routing = require "dynamo_lua_fdw.routing"

local function rel(options, user)
    return { server = { name = "shards", options = options }, user = user or {} }
end

T.test("region_endpoints: region=URL pairs; a malformed entry is an error with a hint", function()
    T.eq(routing.parse_endpoints(" us-east-1=http://localhost:8001 ,eu-west-1 = http://b:2"),
        { ["us-east-1"] = "http://localhost:8001", ["eu-west-1"] = "http://b:2" })
    local ok, err = pcall(routing.parse_endpoints, "us-east-1")
    T.eq(ok, false)
    T.eq(err.sqlstate, "HV00D")
    T.eq({ routing.regions({ regions = "us-east-1, eu-west-1" }) }, { { "us-east-1", "eu-west-1" } })
    T.eq(routing.regions({}), nil)
end)

T.test("the endpoint of a region: region_endpoints over the server endpoint", function()
    local so = { endpoint = "http://default:1", region_endpoints = "eu-west-1=http://eu:2" }
    T.eq(routing.client(rel(so), "eu-west-1", "t").endpoint, "http://eu:2/")
    T.eq(routing.client(rel(so), "us-east-1", "t").endpoint, "http://default:1/")
    T.eq(routing.client(rel(so), "us-east-1", "t").region, "us-east-1")
end)

T.test("a router script decides endpoint, region and credentials per table", function()
    package.loaded["dynamo_lua_fdw.routers.test_router"] = {
        route = function(ctx)
            if ctx.table:sub(1, 9) == "tenant_c-" then
                return { endpoint = "http://shard2:9", region = "eu-west-1", access_key_id = "AK2", secret_access_key = "S2" }
            end
        end,
    }
    local so = { endpoint = "http://shard1:8", router = "test_router", region = "us-east-1" }
    local c = routing.client(rel(so, { access_key_id = "AK1" }), nil, "tenant_c-authors")
    T.eq({ c.endpoint, c.region, c.opts.user_options.access_key_id }, { "http://shard2:9/", "eu-west-1", "AK2" })
    c = routing.client(rel(so, { access_key_id = "AK1" }), nil, "tenant_a-authors")
    T.eq({ c.endpoint, c.region, c.opts.user_options.access_key_id }, { "http://shard1:8/", "us-east-1", "AK1" })
    local ok, err = pcall(routing.client, rel({ router = "no_such_router", endpoint = "http://x:1" }), nil, "t")
    T.eq(ok, false)
    T.eq(err.message, 'router script "no_such_router" not found')
end)

for name, m in pairs(saved) do package.loaded[name] = m end
