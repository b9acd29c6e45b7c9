-- Lossless JSON: exact numbers, [] stays [], strict RFC 8259 errors.
local T = require "testlib"
local json = require "dynamo_lua_fdw.json"
local cjson = require "cjson"

local function bad(text, ...)
    return T.raises(function() json.decode(text) end, "22P02", "invalid input syntax for type json", ...)
end

T.test("tricky strings round trip through encode and decode", function()
    local strings = {
        "", "plain", 'say "hi"', "back\\slash", "\\\"", "tab\there", "line\nfeed\r\n",
        "\b\f", "\0", "nul\0inside", "\1\2\31", "del\127", "slash/", "caf\195\169",
        "\226\130\172", "\240\159\152\128 emoji", "\244\143\191\191", "[1,2]", "{\"a\":1}",
    }
    for _, s in ipairs(strings) do
        local text = json.encode(s)
        T.eq(json.decode(text), s, "round trip of " .. string.format("%q", s))
        T.eq(cjson.decode(text), s, "cjson agrees on " .. string.format("%q", s))
    end
end)

T.test("string escapes on encode", function()
    T.eq(json.encode('a"b\\c'), '"a\\"b\\\\c"')
    T.eq(json.encode("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"')
    T.eq(json.encode("\0\1\31"), '"\\u0000\\u0001\\u001f"')
    T.eq(json.encode("\127/caf\195\169"), '"\127/caf\195\169"', "DEL, slash and UTF-8 pass through")
end)

T.test("string escapes on decode, including surrogate pairs", function()
    T.eq(json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'), '"\\/\b\f\n\r\t')
    T.eq(json.decode('"\\u0000"'), "\0")
    T.eq(json.decode('"\\u0041\\u00e9\\u20AC"'), "A\195\169\226\130\172")
    T.eq(json.decode('"\\ud83d\\ude00"'), "\240\159\152\128", "U+1F600 as 4-byte UTF-8")
    T.eq(json.decode('"\\uDBFF\\uDFFF"'), "\244\143\191\191", "U+10FFFF")
    T.eq(json.decode('"x\\uD800\\uDC00y"'), "x\240\144\128\128y", "U+10000")
    T.eq(json.decode('"\240\159\152\128"'), "\240\159\152\128", "raw non-BMP character")
end)

T.test("numbers keep their exact text", function()
    local numbers = {
        "0", "-0", "12345678901234567890123456789012345678", "-12345678901234567890123456789012345678",
        "1E-130", "9.9999999999999999999999999999999999999E+125", "1.50", "2.5e-3", "1e+5", "-0.0",
        "123456789012345678901234567890.12345678",
    }
    for _, text in ipairs(numbers) do
        local v = json.decode(text)
        T.ok(json.is_number(v), text .. " decodes to a boxed number")
        T.eq(v[1], text, "text of " .. text)
        T.eq(json.encode(v), text, "re-encoded " .. text)
        T.eq(tostring(v), text, "tostring of " .. text)
    end
    local arr = "[12345678901234567890123456789012345678,1E-130,-9.9999999999999999999999999999999999999E+125]"
    T.eq(json.encode(json.decode(arr)), arr)
    T.eq(json.encode(json.number("1.000")), "1.000")
    T.ok(not json.is_number("1") and not json.is_number({ "1" }), "only boxes are numbers")
end)

T.test("Lua numbers encode as integers or %.17g, never NaN or infinity", function()
    T.eq(json.encode(1), "1")
    T.eq(json.encode(-42), "-42")
    T.eq(json.encode(0.5), "0.5")
    T.eq(json.encode(2 ^ 53 - 1), "9007199254740991")
    T.eq(json.encode(2 ^ 53), "9007199254740992")
    T.eq(json.encode(0.1), "0.10000000000000001")
    T.eq(json.encode(1e300), "1.0000000000000001e+300")
    T.raises(function() json.encode(0 / 0) end, "22023", "NaN")
    T.raises(function() json.encode(math.huge) end, "22023", "infinite")
    T.raises(function() json.encode(-math.huge) end, "22023")
end)

T.test("empty and nested arrays stay arrays; nulls inside arrays survive", function()
    T.eq(json.encode(json.decode("[]")), "[]")
    T.eq(json.encode(json.decode("{}")), "{}")
    T.eq(getmetatable(json.decode("[]")), json.array_mt)
    T.eq(getmetatable(json.decode("{}")), nil)
    local text = '[null,[null,null],[],[[]],{"a":null,"b":[]},[1,null,3]]'
    local v = json.decode(text)
    T.eq(#v, 6)
    T.eq(v[1], json.null)
    T.eq(#v[2], 2)
    T.eq(v[2][2], json.null)
    T.eq(v[6][2], json.null)
    T.eq(v[5].a, json.null)
    T.eq(rawget(v, "n"), nil, "no n field is stored")
    T.eq(json.encode(v), text)
    T.eq(json.null, cjson.null, "null is cjson.null")
    T.eq(json.encode(json.array({})), "[]")
    T.eq(json.encode(json.array()), "[]")
    T.eq(json.encode({}), "{}")
    T.eq(json.encode({ 1, "a", true, json.null }), '[1,"a",true,null]')
end)

T.test("objects: keys sorted on encode, last duplicate wins on decode", function()
    T.eq(json.encode({ b = 1, a = 2, ["A"] = 3, [""] = 4, ["\195\169"] = 5, aa = false }),
        '{"":4,"A":3,"a":2,"aa":false,"b":1,"\195\169":5}')
    local v = json.decode('{"a":1,"b":2,"a":3}')
    T.eq(v.a[1], "3")
    T.eq(v.b[1], "2")
    T.eq(json.encode(json.decode(' \t\r\n{ "k" : [ 1 , { } ] , "j" : "v" } \n')), '{"j":"v","k":[1,{}]}')
    T.eq(json.decode("true"), true)
    T.eq(json.decode("false"), false)
    T.eq(json.decode(" null "), json.null)
end)

T.test("tables that cannot be encoded are refused", function()
    T.raises(function() json.encode({ [1] = 1, [3] = 3 }) end, "22023", "non-string keys")
    T.raises(function() json.encode({ 1, a = 2 }) end, "22023")
    T.raises(function() json.encode(print) end, "22023", "function")
    T.raises(function() json.encode(nil) end, "22023", "nil")
    local cyc = {}
    cyc.self = cyc
    T.raises(function() json.encode(cyc) end, "22023", "deeper")
end)

T.test("syntax errors raise 22P02 with the position", function()
    bad("[1,]", "Expected a JSON value", "at character 4")
    bad('{"a":1,}', "Expected a string as object key", "at character 8")
    bad("01", "Leading zeros", "at character 1")
    bad("[-01]", "Leading zeros")
    bad(".5", "Expected a JSON value", "at character 1")
    bad("-.5", "Expected a digit")
    bad("1.", "decimal point")
    bad("1e", "exponent")
    bad("1e+", "exponent")
    bad("+1", "Expected a JSON value")
    bad("0x10")
    bad("NaN")
    bad("Infinity")
    bad('"abc', "Unterminated string", "at character 1")
    bad('["abc\\"]', "Unterminated string")
    bad('"abc\\', "Unterminated string")
    bad('"\\x"', 'Invalid escape "\\x"', "at character 2")
    bad('"\\u12"', "four hex digits")
    bad('"\\u12G4"', "four hex digits")
    bad('"\\ud800"', "Unpaired high surrogate")
    bad('"\\ud800x"', "Unpaired high surrogate")
    bad('"\\ud800\\u0041"', "Unpaired high surrogate")
    bad('"\\udc00"', "Unpaired low surrogate")
    bad('"a\nb"', "control character")
    bad('"a\0b"', "control character")
    bad("[1] x", "Unexpected characters after the JSON value", "at character 5")
    bad("{} {}", "Unexpected characters")
    bad("1 2", "Unexpected characters")
    bad("", "Unexpected end of input")
    bad("   ", "Unexpected end of input")
    bad("[1", 'Expected "," or "]"')
    bad('{"a" 1}', 'Expected ":"')
    bad('{"a":1 "b":2}', 'Expected "," or "}"')
    bad("{a:1}", "Expected a string as object key")
    bad("tru", "Expected a JSON value")
    bad("nulls", "Unexpected characters")
    bad("'a'", "Expected a JSON value")
    bad("\239\187\191{}", "Expected a JSON value") -- a byte order mark is not JSON
end)

T.test("positions count characters, not bytes", function()
    bad('["\195\169\195\169", x]', "at character 8") -- 10 in bytes
end)

T.test("invalid UTF-8 is refused", function()
    bad('"\255"', "Invalid UTF-8")
    bad('"\195"', "Invalid UTF-8")
    bad('"\192\128"', "Invalid UTF-8", "at character 2") -- overlong NUL
    bad('"\237\160\128"', "Invalid UTF-8") -- encoded surrogate
    bad('"\244\144\128\128"', "Invalid UTF-8") -- above U+10FFFF
    bad('"ok" \128', "Invalid UTF-8")
end)

T.test("deep nesting: 64 and 512 levels work, deeper is an error, not a crash", function()
    for _, depth in ipairs({ 64, 512 }) do
        local text = string.rep("[", depth) .. string.rep("]", depth)
        T.eq(json.encode(json.decode(text)), text, depth .. " arrays")
        local obj = string.rep('{"a":', depth - 1) .. "{}" .. string.rep("}", depth - 1)
        T.eq(json.encode(json.decode(obj)), obj, depth .. " objects")
    end
    bad(string.rep("[", 513) .. string.rep("]", 513), "Nesting is deeper than 512 levels")
    bad(string.rep('{"a":', 513) .. "1" .. string.rep("}", 513), "Nesting")
    bad(string.rep("[", 100000), "Nesting")
end)

T.test("decode refuses non-strings", function()
    T.raises(function() json.decode(nil) end, "22P02")
    T.raises(function() json.decode(12) end, "22P02")
end)
