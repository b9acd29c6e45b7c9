-- The generic table's oid: compose and parse round-trip, and only the
-- canonical text is accepted.
local T = require "testlib"
local rowid = require "dynamo_lua_fdw.rowid"
local json = require "dynamo_lua_fdw.json"

local function keys(pk, pv, sk, sv)
    local k = { { name = pk, value = pv } }
    if sk then k[2] = { name = sk, value = sv } end
    return k
end

local function same_as_json_encode(region, tbl, k)
    local arr = json.array({ region, tbl })
    for _, key in ipairs(k) do
        arr[#arr + 1] = key.name
        arr[#arr + 1] = key.value
    end
    return json.encode(arr)
end

T.test("compose writes the compact JSON array", function()
    T.eq(rowid.compose("us-east-1", "Music", keys("pkey", { S = "x" }, "skey", { N = "1" })),
        '["us-east-1","Music","pkey",{"S":"x"},"skey",{"N":"1"}]')
    T.eq(rowid.compose("eu-west-1", "t", keys("id", { B = "AAE=" })),
        '["eu-west-1","t","id",{"B":"AAE="}]')
end)

local cases = {
    { "us-east-1", "Music", keys("Artist", { S = "No One You Know" }, "SongTitle", { S = "Call Me Today" }) },
    { "us-east-1", "t", keys("pk", { S = 'say "hi", \\ / [x] {y} :z' }) },
    { "us-east-1", "t", keys("pk", { S = '","t","' }, "sk", { S = "]" }) },
    { "us-east-1", "t", keys("pk", { S = '""' }, "sk", { S = " " }) },
    { "us-east-1", "t", keys("pk", { S = "null" }, "sk", { S = "[]" }) },
    { "us-east-1", "t", keys("pk", { S = "caf\195\169 \240\159\152\128 \226\130\172" }) },
    { "us-east-1", "t", keys("pk", { S = "tab\tnew\nline\0nul\1" }) },
    { "ap-south-1", "a.b-c_d", keys("p,k", { N = "-12.50E+3" }, "s\"k", { B = "/w==" }) },
    { "us-east-1", "t", keys("n", { N = "12345678901234567890123456789012345678" }, "b", { B = "AAECAw==" }) },
    { "us-east-1", "t", keys("n", { N = "1E-130" }, "m", { N = "-9.9999999999999999999999999999999999999E+125" }) },
    { "", "", keys("", { S = "" }) },
}

T.test("parse(compose(x)) == x for tricky keys", function()
    for i, c in ipairs(cases) do
        local text = rowid.compose(c[1], c[2], c[3])
        T.eq(text, same_as_json_encode(c[1], c[2], c[3]), "case " .. i .. " is json.encode's text")
        local region, tbl, k = rowid.parse(text)
        T.eq(region, c[1], "region of case " .. i)
        T.eq(tbl, c[2], "table of case " .. i)
        T.eq(k, c[3], "keys of case " .. i)
    end
end)

T.test("different keys give different oids", function()
    local seen = {}
    for i, c in ipairs(cases) do
        local text = rowid.compose(c[1], c[2], c[3])
        T.ok(not seen[text], "case " .. i .. " is unique")
        seen[text] = true
    end
    T.ok(rowid.compose("r", "t", keys("a", { S = "1" })) ~= rowid.compose("r", "t", keys("a", { N = "1" })),
        "S 1 and N 1 differ")
    T.ok(rowid.compose("r", "t", keys("a", { S = "b,c" })) ~= rowid.compose("r", "t", keys("a,b", { S = "c" })),
        "separators inside names and values cannot be confused")
end)

T.test("compose refuses key values that are not one S, N or B string", function()
    T.raises(function() rowid.compose("r", "t", keys("a", { BOOL = true })) end, "HV004", '"a"')
    T.raises(function() rowid.compose("r", "t", keys("a", { N = 1 })) end, "HV004")
    T.raises(function() rowid.compose("r", "t", keys("a", { S = "x", N = "1" })) end, "HV004")
    T.raises(function() rowid.compose("r", "t", {}) end, "one or two")
end)

local function rejected(text, ...)
    return T.raises(function() rowid.parse(text) end, "22P02", "invalid oid for a DynamoDB item", ...)
end

T.test("parse rejects garbage and non-canonical text", function()
    local good = '["r","t","pk",{"S":"x"},"sk",{"N":"1"}]'
    T.eq(select(3, rowid.parse(good)), keys("pk", { S = "x" }, "sk", { N = "1" }))
    rejected("", "not valid JSON")
    rejected("garbage", "not valid JSON")
    rejected("r/t/x", "not valid JSON")
    rejected(good .. " ", "canonical")
    rejected(" " .. good, "canonical")
    rejected('["r", "t","pk",{"S":"x"},"sk",{"N":"1"}]', "canonical")
    rejected('["r","t","pk",{"S":"\\u0078"},"sk",{"N":"1"}]', "canonical")
    rejected('["r","t","pk",{"S":"a\\/b"}]', "canonical")
    rejected('["r","t","pk",{"S":"x"},"sk",{"N":"1"}]x', "not valid JSON")
    rejected('["r","t","pk",{"S":"x"},"sk",{"N":"1"},]', "not valid JSON")
    rejected('{"r":"t"}', "JSON array")
    rejected('"r"', "JSON array")
    rejected("[]", "JSON array")
    rejected('["r","t"]', "JSON array")
    rejected('["r","t","pk"]', "JSON array")
    rejected('["r","t","pk",{"S":"x"},"sk"]', "JSON array")
    rejected('["r","t","a",{"S":"1"},"b",{"S":"2"},"c",{"S":"3"}]', "JSON array")
    rejected('[1,"t","pk",{"S":"x"}]', "must be strings")
    rejected('["r",null,"pk",{"S":"x"}]', "must be strings")
    rejected('["r","t",1,{"S":"x"}]', "key name")
    rejected('["r","t","pk","x"]', '"pk"')
    rejected('["r","t","pk",{"N":1}]', '"pk"')
    rejected('["r","t","pk",{"S":"x","N":"1"}]', '"pk"')
    rejected('["r","t","pk",{"BOOL":true}]', '"pk"')
    rejected('["r","t","pk",{"SS":["x"]}]', '"pk"')
    rejected('["r","t","pk",{}]', '"pk"')
    rejected('["r","t","pk",[{"S":"x"}]]', '"pk"')
    rejected('["r","t","pk",{"N":"abc"}]', "DynamoDB number")
    rejected('["r","t","pk",{"N":"1E999"}]', "DynamoDB number")
    rejected('["r","t","pk",{"B":"AAE"}]', "base64")
    local err = rejected(nil, "must be text")
    T.ok(err.hint and err.hint:find("oid", 1, true), "the error has a hint")
end)
