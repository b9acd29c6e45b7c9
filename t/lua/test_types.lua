-- DynamoDB AttributeValues <-> JSON text, and key values.
local T = require "testlib"
local types = require "dynamo_lua_fdw.types"
local json = require "dynamo_lua_fdw.json"
local cjson = require "cjson"

-- Items as they arrive: the wire JSON decoded by cjson.
local function wire(text) return cjson.decode(text) end

local N38 = "12345678901234567890123456789012345678"
local NMAX = "9.9999999999999999999999999999999999999E+125"

T.test("item_to_json: every scalar type, exact text", function()
    local item = wire('{"s":{"S":"x \\"q\\""},"n":{"N":"12.50"},"b":{"B":"AAE="},'
        .. '"t":{"BOOL":true},"f":{"BOOL":false},"z":{"NULL":true},"e":{"S":""}}')
    T.eq(types.item_to_json(item),
        '{"b":"AAE=","e":"","f":false,"n":12.50,"s":"x \\"q\\"","t":true,"z":null}')
end)

T.test("item_to_json: numbers keep all digits, exponents and signs", function()
    local item = wire('{"a":{"N":"' .. N38 .. '"},"b":{"N":"1E-130"},"c":{"N":"' .. NMAX .. '"},'
        .. '"d":{"N":"-' .. NMAX .. '"},"e":{"N":"-0.000000000000000000000000000000000000012"},'
        .. '"f":{"N":"0"},"g":{"N":"-1E-130"}}')
    T.eq(types.item_to_json(item), '{"a":' .. N38 .. ',"b":1E-130,"c":' .. NMAX .. ',"d":-' .. NMAX
        .. ',"e":-0.000000000000000000000000000000000000012,"f":0,"g":-1E-130}')
end)

T.test("item_to_json: number text is made valid JSON without losing digits", function()
    local cases = {
        ["+5"] = "5", [".5"] = "0.5", ["5."] = "5", ["-.5"] = "-0.5", ["-0"] = "-0",
        ["1e5"] = "1e5", ["007"] = "7", ["00.25"] = "0.25", ["+1.50E+3"] = "1.50E+3", ["000"] = "0",
        ["1E+125"] = "1E+125",
    }
    for wire_text, want in pairs(cases) do
        T.eq(types.item_to_json({ n = { N = wire_text } }), '{"n":' .. want .. "}", wire_text)
        T.ok(json.is_number(json.decode(want)), want .. " is JSON")
    end
    for _, junk in ipairs({ "abc", "", ".", "1e", "1.2.3", "NaN", " 1", "0x10" }) do
        T.raises(function() types.item_to_json({ n = { N = junk } }) end, "22P02", "DynamoDB number")
    end
end)

T.test("item_to_json: maps, lists and sets, empty and nested", function()
    local item = wire('{"m":{"M":{"z":{"N":"1"},"a":{"L":[{"S":"x"},{"NULL":true},{"L":[]},{"M":{}}]}}},'
        .. '"l":{"L":[]},"em":{"M":{}},'
        .. '"ss":{"SS":["b","a\\u0000"]},"ns":{"NS":["' .. N38 .. '","1E-130","' .. NMAX .. '","-3.5"]},'
        .. '"bs":{"BS":["AAE=","/w=="]}}')
    T.eq(types.item_to_json(item),
        '{"bs":["AAE=","/w=="],"em":{},"l":[],'
        .. '"m":{"a":["x",null,[],{}],"z":1},'
        .. '"ns":[' .. N38 .. ',1E-130,' .. NMAX .. ',-3.5],'
        .. '"ss":["b","a\\u0000"]}')
    T.eq(types.item_to_json({}), "{}")
end)

T.test("item_to_json: strings with NUL, control characters and unicode", function()
    local item = { ["k\0ey"] = { S = "a\0b\1\n\"\\\240\159\152\128" } }
    T.eq(types.item_to_json(item), '{"k\\u0000ey":"a\\u0000b\\u0001\\n\\"\\\\\240\159\152\128"}')
    -- the text is what json.decode reads back exactly
    T.eq(json.decode(types.item_to_json(item))["k\0ey"], item["k\0ey"].S)
end)

T.test("item_to_json: output is sorted and deterministic", function()
    local a = wire('{"b":{"S":"1"},"a":{"S":"2"},"c":{"M":{"y":{"S":"3"},"x":{"S":"4"}}}}')
    T.eq(types.item_to_json(a), '{"a":"2","b":"1","c":{"x":"4","y":"3"}}')
end)

T.test("item_to_json: unknown attribute types are refused", function()
    T.raises(function() types.item_to_json({ a = { X = "1" } }) end, "HV004", "unsupported")
    T.raises(function() types.item_to_json({ a = "bare" }) end, "HV004")
end)

T.test("json_to_item: exact numbers, [] stays a list, every JSON type", function()
    local item = types.json_to_item('{"n":' .. N38 .. ',"e":1E-130,"big":' .. NMAX
        .. ',"neg":-1.50,"s":"x","t":true,"f":false,"z":null,"l":[],"m":{},'
        .. '"nest":[1,[null],{"k":"v"}]}')
    T.eq(item.n, { N = N38 })
    T.eq(item.e, { N = "1E-130" })
    T.eq(item.big, { N = NMAX })
    T.eq(item.neg, { N = "-1.50" })
    T.eq(item.s, { S = "x" })
    T.eq(item.t, { BOOL = true })
    T.eq(item.f, { BOOL = false })
    T.eq(item.z, { NULL = true })
    T.eq(getmetatable(item.l.L), json.array_mt, "L is marked as an array")
    T.eq(json.encode(item),
        '{"big":{"N":"' .. NMAX .. '"},"e":{"N":"1E-130"},"f":{"BOOL":false},"l":{"L":[]},"m":{"M":{}},'
        .. '"n":{"N":"' .. N38 .. '"},"neg":{"N":"-1.50"},'
        .. '"nest":{"L":[{"N":"1"},{"L":[{"NULL":true}]},{"M":{"k":{"S":"v"}}}]},'
        .. '"s":{"S":"x"},"t":{"BOOL":true},"z":{"NULL":true}}')
end)

T.test("json_to_item: the top level must be an object", function()
    for text, what in pairs({ ["[]"] = "an array", ['"s"'] = "a string", ["1"] = "a number",
        ["null"] = "null", ["true"] = "a boolean" }) do
        T.raises(function() types.json_to_item(text) end, "22023", "must be a JSON object", what,
            "attribute names")
    end
    T.raises(function() types.json_to_item("{") end, "22P02", "invalid input syntax for type json")
end)

T.test("json_to_item: numbers DynamoDB cannot store are refused", function()
    T.raises(function() types.json_to_item('{"a":1234567890123456789012345678901234567890}') end,
        "22P02", "38 significant digits")
    T.raises(function() types.json_to_item('{"a":{"b":[1E126]}}') end, "22P02", "1E-130")
    T.raises(function() types.json_to_item('{"a":1E-131}') end, "22P02")
    -- trailing and leading zeros are not significant
    T.eq(types.json_to_item('{"a":1000000000000000000000000000000000000000000}').a.N,
        "1000000000000000000000000000000000000000000")
    T.eq(types.json_to_item('{"a":0.00000000000000000000000000000000000000000001}').a.N,
        "0.00000000000000000000000000000000000000000001")
    T.eq(types.json_to_item('{"a":0e999}').a.N, "0e999")
end)

T.test("check_number: syntax, precision and range", function()
    for _, ok in ipairs({ "0", "-0", "+5", ".5", "5.", "1.5e3", "1E-130", NMAX, "-" .. NMAX, N38,
        "-1E-130", "0.1E-129", "99E124", "99.9E124", "100E123" }) do
        T.ok(types.check_number(ok), ok .. " is accepted")
    end
    for _, bad in ipairs({ "", ".", "-", "+", "abc", "1e", "1.2.3", " 1", "1 ", "0x10", "1E-131",
        "0.1E-130", "1E126", "10E125", "99.9E125", N38 .. "9", "1_0", "Infinity" }) do
        T.ok(not types.check_number(bad), string.format("%q is refused", bad))
    end
end)

T.test("key_text: S, N and B as text; NUL and other types refused", function()
    T.eq(types.key_text({ S = "abc" }), "abc")
    T.eq(types.key_text({ S = "" }), "")
    T.eq(types.key_text({ N = "1.50E+3" }), "1.50E+3")
    T.eq(types.key_text({ N = N38 }), N38)
    T.eq(types.key_text({ B = "AAE=" }), "AAE=")
    T.raises(function() types.key_text({ S = "a\0b" }) end, "22021",
        "DynamoDB string value contains a NUL character", "PostgreSQL text")
    T.raises(function() types.key_text({ BOOL = true }) end, "HV004", "BOOL")
    T.raises(function() types.key_text({ L = {} }) end, "HV004")
    T.raises(function() types.key_text(nil) end, "HV004")
    T.ok(types.contains_nul("a\0") and not types.contains_nul("a"), "contains_nul")
end)

T.test("key_value: valid keys", function()
    T.eq(types.key_value("abc", "S"), { S = "abc" })
    T.eq(types.key_value(" ", "S"), { S = " " })
    T.eq(types.key_value("-12.50", "N"), { N = "-12.50" })
    T.eq(types.key_value(N38, "N"), { N = N38 })
    T.eq(types.key_value("1E-130", "N"), { N = "1E-130" })
    T.eq(types.key_value("AAE=", "B"), { B = "AAE=" })
end)

T.test("key_value: invalid keys name the value", function()
    for _, v in ipairs({ "abc", "", "1.2.3", "1e", "12 ", N38 .. "1", "1E126", "1E-131" }) do
        T.raises(function() types.key_value(v, "N") end, "22P02", 'DynamoDB number: "' .. v .. '"')
    end
    T.raises(function() types.key_value("AAE", "B") end, "22P02", '"AAE"', "multiple of 4")
    T.raises(function() types.key_value("AA*=", "B") end, "22P02", "base64")
    T.raises(function() types.key_value("", "B") end, "22023", "cannot be empty")
    T.raises(function() types.key_value("", "S") end, "22023", "cannot be empty")
    T.raises(function() types.key_value("x", "BOOL") end, "22023", "key type")
    T.raises(function() types.key_value(nil, "S") end, "22023")
end)

T.test("round trip: item_to_json then json_to_item for S, N, BOOL, NULL, M and L", function()
    local item = wire('{"s":{"S":"x\\u0000y\\"\\u00e9"},"n":{"N":"' .. N38 .. '"},"e":{"N":"-1E-130"},'
        .. '"t":{"BOOL":true},"f":{"BOOL":false},"z":{"NULL":true},'
        .. '"m":{"M":{"a":{"L":[{"N":"1.50"},{"NULL":true},{"L":[]},{"M":{}}]},"b":{"S":""}}},'
        .. '"l":{"L":[]}}')
    local text = types.item_to_json(item)
    local back = types.json_to_item(text)
    T.eq(back, item)
    T.eq(types.item_to_json(back), text)
    T.eq(json.encode(back.l), '{"L":[]}')
end)
