-- Typed columns: AttributeValue <-> input/output function text, IMPORT inference and SQL.
local T = require "testlib"
local columns = require "dynamo_lua_fdw.columns"
local types = require "dynamo_lua_fdw.types"
local json = require "dynamo_lua_fdw.json"
local capi = require "dynamo_lua_fdw.capi"
local cjson = require "cjson"

local N38 = "12345678901234567890123456789012345678"
local NMAX = "9.9999999999999999999999999999999999999E+125"
local WHERE = 'id = "abc"'

local function col(ty, opts, name)
    return { name = name or "c", attnum = 1, type = ty, notnull = false, options = opts or {} }
end
local function dec(ty, av, opts) return columns.decoder(col(ty, opts))(av, WHERE) end
local function enc(ty, text, opts) return columns.encoder(col(ty, opts))(text) end

---------------------------------------------------------------------------
-- options
---------------------------------------------------------------------------

T.test("attribute_name and is_raw_item", function()
    T.eq(columns.attribute_name({ name = "pk", options = { attribute = "PK" } }), "PK")
    T.eq(columns.attribute_name({ name = "pk", options = {} }), "pk")
    T.eq(columns.attribute_name({ name = "pk" }), "pk")
    for _, v in ipairs({ "true", "on", "1", "TRUE", "On", "yes" }) do
        T.ok(columns.is_raw_item({ name = "i", options = { raw_item = v } }), v .. " is true")
    end
    for _, v in ipairs({ "false", "off", "0", "" }) do
        T.ok(not columns.is_raw_item({ name = "i", options = { raw_item = v } }), v .. " is false")
    end
    T.ok(not columns.is_raw_item({ name = "i" }), "no options")
end)

T.test("format option: only epoch/epoch_ms, only on date and timestamp columns", function()
    T.raises(function() columns.decoder(col("text", { format = "epoch" })) end, "HV024", '"format"',
        "date and timestamp")
    T.raises(function() columns.encoder(col("integer", { format = "epoch" })) end, "HV024")
    T.raises(function() columns.decoder(col("date", { format = "unix" })) end, "HV024", '"unix"',
        "epoch_ms")
    T.ok(columns.decoder(col("date", { format = "epoch" })), "date epoch")
    T.ok(columns.encoder(col("timestamp with time zone", { format = "epoch_ms" })), "timestamptz epoch_ms")
end)

---------------------------------------------------------------------------
-- strings
---------------------------------------------------------------------------

T.test("text, varchar, uuid and other types read S as is", function()
    for _, ty in ipairs({ "text", "character varying", "uuid", "inet", "interval", "character" }) do
        T.eq(dec(ty, { S = "abc" }), "abc", ty)
        T.eq(dec(ty, { S = "" }), "", ty .. " empty")
        T.eq(dec(ty, { S = 'q"u\'o\\te \240\159\152\128 é' }), 'q"u\'o\\te \240\159\152\128 é', ty)
        T.eq(dec(ty, nil), nil, ty .. " missing")
        T.eq(dec(ty, { NULL = true }), nil, ty .. " NULL")
    end
end)

T.test("text written as S, empty string kept, NULL removes", function()
    for _, ty in ipairs({ "text", "character varying", "uuid", "inet" }) do
        T.eq(enc(ty, "abc"), { S = "abc" }, ty)
        T.eq(enc(ty, ""), { S = "" }, ty .. " empty")
        T.eq(enc(ty, nil), nil, ty .. " NULL")
    end
    local s = '{"a", b}\\ \240\159\152\128'
    T.eq(dec("text", enc("text", s)), s)
end)

T.test("wrong DynamoDB type is 22P02 naming attribute, item and column", function()
    local d = columns.decoder({ name = "title", type = "text", options = { attribute = "Title" } })
    local e = T.raises(function() d({ N = "12" }, WHERE) end, "22P02",
        'DynamoDB attribute "Title" of item id = "abc" is a number, not a string', 'Column "title"', "text")
    T.eq(e.sqlstate, "22P02")
    for tag, v in pairs({ BOOL = true, M = {}, L = {}, SS = { "a" }, B = "AA==" }) do
        T.raises(function() d({ [tag] = v }, WHERE) end, "22P02", "Title", WHERE, "not a string")
    end
    T.raises(function() dec("integer", { S = "12" }) end, "22P02", "is a string, not a number", "integer")
    T.raises(function() dec("boolean", { N = "1" }) end, "22P02", "is a number, not a boolean")
    T.raises(function() dec("bytea", { S = "AA==" }) end, "22P02", "is a string, not binary")
    T.raises(function() dec("text[]", { S = "a" }) end, "22P02", "is a string, not a string set")
    T.raises(function() dec("numeric[]", { SS = { "1" } }) end, "22P02", "is a string set, not a number set")
    T.raises(function() dec("bytea[]", { NS = { "1" } }) end, "22P02", "is a number set, not a binary set")
    T.raises(function() dec("date", { N = "0" }) end, "22P02", "is a number, not a string")
    T.raises(function() dec("date", { S = "2024-01-01" }, { format = "epoch" }) end, "22P02",
        "is a string, not a number", "seconds since 1970")
    T.raises(function() dec("text", { X = "1" }) end, "22P02", 'of type "X"')
    -- without a key description
    T.raises(function() columns.decoder(col("text"))({ N = "1" }) end, "of an item")
end)

T.test("a NUL character cannot be read into text", function()
    T.raises(function() dec("text", { S = "a\0b" }) end, "22021", "NUL", WHERE, "json")
    T.raises(function() dec("text[]", { SS = { "ok", "a\0" } }) end, "22021", "NUL")
    -- json keeps it escaped
    T.eq(dec("json", { S = "a\0b" }), '"a\\u0000b"')
end)

---------------------------------------------------------------------------
-- numbers
---------------------------------------------------------------------------

local NUMERIC_TYPES = { "numeric", "integer", "bigint", "smallint", "real", "double precision" }

T.test("numbers read as sent, for the input function to check", function()
    for _, ty in ipairs(NUMERIC_TYPES) do
        for _, n in ipairs({ "0", "-7", N38, "-" .. N38, "1E-130", NMAX, "-" .. NMAX, "12.50", "99999999999" }) do
            T.eq(dec(ty, { N = n }), n, ty .. " " .. n)
        end
        T.eq(dec(ty, nil), nil)
        T.eq(dec(ty, { NULL = true }), nil)
    end
end)

T.test("numbers written as N with every digit", function()
    for _, ty in ipairs(NUMERIC_TYPES) do
        for _, n in ipairs({ "0", "42", "-42", N38, "-" .. N38, "1E-130", NMAX, "1e+100", "1.5", "-1.5e-45",
            "0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001" }) do
            T.eq(enc(ty, n), { N = n }, ty .. " " .. n)
        end
        T.eq(enc(ty, nil), nil)
    end
end)

T.test("negative zero is stored as zero", function()
    T.eq(enc("double precision", "-0"), { N = "0" })
    T.eq(enc("numeric", "-0.000"), { N = "0.000" })
    T.eq(enc("real", "-0e5"), { N = "0e5" })
    T.eq(enc("numeric", "-0.001"), { N = "-0.001" })
end)

T.test("NaN and infinity cannot be stored", function()
    for _, ty in ipairs({ "numeric", "real", "double precision" }) do
        for _, v in ipairs({ "NaN", "Infinity", "-Infinity" }) do
            local e = T.raises(function() enc(ty, v) end, "22023", v, 'column "c"', "DynamoDB number")
            T.ok(e.hint and e.hint:find("NULL", 1, true), "hint suggests NULL")
        end
    end
end)

T.test("numbers outside DynamoDB's range or precision are 22003", function()
    T.raises(function() enc("numeric", N38 .. "9") end, "22003", "38 significant digits")
    T.raises(function() enc("numeric", "1E126") end, "22003", "1E-130")
    T.raises(function() enc("double precision", "5e-324") end, "22003", 'column "c"')
    T.raises(function() enc("double precision", "1e+300") end, "22003")
    T.raises(function() enc("numeric", "-1E-131") end, "22003")
    -- trailing zeros are not significant
    T.eq(enc("numeric", N38 .. "000"), { N = N38 .. "000" })
    T.raises(function() enc("numeric", "abc") end, "22P02", "invalid input syntax for a DynamoDB number")
    T.raises(function() enc("numeric", "") end, "22P02")
end)

---------------------------------------------------------------------------
-- boolean
---------------------------------------------------------------------------

T.test("boolean both ways", function()
    T.eq(dec("boolean", { BOOL = true }), "true")
    T.eq(dec("boolean", { BOOL = false }), "false")
    T.eq(dec("boolean", { NULL = true }), nil)
    T.eq(enc("boolean", "t"), { BOOL = true })
    T.eq(enc("boolean", "f"), { BOOL = false })
    T.eq(enc("boolean", "true"), { BOOL = true })
    T.eq(enc("boolean", nil), nil)
    T.raises(function() enc("boolean", "yes please") end, "22P02", "boolean")
end)

---------------------------------------------------------------------------
-- bytea
---------------------------------------------------------------------------

T.test("bytea: B base64 <-> hex output", function()
    T.eq(dec("bytea", { B = "AAH/" }), "\\x0001ff")
    T.eq(dec("bytea", { B = "" }), "\\x")
    T.eq(dec("bytea", { B = "aGk=" }), "\\x6869")
    T.eq(enc("bytea", "\\x0001ff"), { B = "AAH/" })
    T.eq(enc("bytea", "\\x0001FF"), { B = "AAH/" })
    T.eq(enc("bytea", "\\x"), { B = "" })
    T.eq(enc("bytea", nil), nil)
    -- escape format, should bytea_output be 'escape'
    T.eq(enc("bytea", "a\\\\b\\001\\377"), { B = capi.base64_encode("a\\b\1\255") })
    T.eq(enc("bytea", "plain"), { B = capi.base64_encode("plain") })
end)

T.test("bytea: invalid text and invalid base64", function()
    T.raises(function() enc("bytea", "\\x0") end, "22P02", "bytea")
    T.raises(function() enc("bytea", "\\xzz") end, "22P02", 'column "c"')
    T.raises(function() enc("bytea", "a\\9") end, "22P02")
    T.raises(function() dec("bytea", { B = "AA=" }) end, "22P02", "base64", WHERE)
    T.raises(function() dec("bytea", { B = "A*==" }) end, "22P02", "base64")
end)

T.test("bytea: 350 KB of every byte value round trips", function()
    local parts = {}
    local x = 12345
    for i = 1, 350 * 1024 do
        x = (x * 1103515245 + 12345) % 2147483648
        parts[i] = string.char(math.floor(x / 65536) % 256)
    end
    for i = 0, 255 do parts[#parts + 1] = string.char(i) end
    local raw = table.concat(parts)
    local b64 = capi.base64_encode(raw)
    local text = dec("bytea", { B = b64 })
    T.eq(#text, 2 + 2 * #raw, "hex length")
    T.eq(text, "\\x" .. capi.hex(raw), "hex text")
    local av = enc("bytea", text)
    T.ok(av.B == b64, "base64 round trip")
    T.ok(capi.base64_decode(av.B) == raw, "bytes round trip")
end)

---------------------------------------------------------------------------
-- sets and arrays
---------------------------------------------------------------------------

local NASTY = { 'q"uote', "back\\slash", "", "NULL", "null", "a,b", "{br}", " spaced ", "\240\159\152\128 é",
    "tab\there", "\\\"\\" }

T.test("text[] reads SS as an array literal, every element quoted", function()
    T.eq(dec("text[]", { SS = { "a", "b c" } }), '{"a","b c"}')
    T.eq(dec("text[]", { SS = { 'q"', "b\\s" } }), '{"q\\"","b\\\\s"}')
    T.eq(dec("character varying[]", { SS = { "NULL", "" } }), '{"NULL",""}')
    T.eq(dec("text[]", nil), nil)
    T.eq(dec("text[]", { NULL = true }), nil)
    -- what the encoder (a PostgreSQL array parser) reads back is the same strings
    local lit = dec("text[]", { SS = NASTY })
    T.eq(enc("text[]", lit), { SS = NASTY })
end)

T.test("text[] reads a list of strings, NULL elements included", function()
    T.eq(dec("text[]", { L = { { S = "a" }, { NULL = true }, { S = 'x"y' } } }), '{"a",NULL,"x\\"y"}')
    T.eq(dec("text[]", { L = {} }), "{}")
    T.raises(function() dec("text[]", { L = { { S = "a" }, { N = "1" } } }) end, "22P02",
        "element 2", 'list attribute "c"', WHERE, "is a number, not a string")
    T.raises(function() dec("text[]", { L = { { M = {} } } }) end, "22P02", "is a map")
end)

T.test("text[] written from PostgreSQL array output as SS", function()
    T.eq(enc("text[]", '{a,"b c","\\"q\\"","back\\\\slash","","NULL"}'),
        { SS = { "a", "b c", '"q"', "back\\slash", "", "NULL" } })
    T.eq(enc("text[]", "{x}"), { SS = { "x" } })
    T.eq(enc("text[]", "[0:1]={a,b}"), { SS = { "a", "b" } })
    T.eq(enc("text[]", " { a , b } "), { SS = { "a", "b" } })
    T.eq(enc("text[]", "{\240\159\152\128,é}"), { SS = { "\240\159\152\128", "é" } })
    T.eq(getmetatable(enc("text[]", "{a}").SS), json.array_mt)
    T.eq(enc("text[]", nil), nil)
end)

T.test("sets: empty array, NULL element, duplicates and bad literals are refused", function()
    local e = T.raises(function() enc("text[]", "{}") end, "22023", "DynamoDB does not allow empty sets",
        'column "c"')
    T.ok(e.hint:find("NULL", 1, true), "hint: set NULL to remove the attribute")
    T.raises(function() enc("numeric[]", "{}") end, "22023", "empty sets")
    T.raises(function() enc("bytea[]", "{}") end, "22023", "empty sets")
    T.raises(function() enc("text[]", "{a,NULL}") end, "22004", "sets cannot contain NULL", "Element 2")
    T.raises(function() enc("integer[]", "{NULL}") end, "22004")
    T.raises(function() enc("text[]", "{a,b,a}") end, "22023", "duplicate", "Elements 1 and 3")
    T.raises(function() enc("numeric[]", "{1,2,1.0}") end, "22023", "duplicate")
    T.raises(function() enc("numeric[]", "{1E+2,100}") end, "22023", "duplicate")
    T.raises(function() enc("double precision[]", "{0,-0}") end, "22023", "duplicate")
    T.raises(function() enc("bytea[]", '{"\\\\x01","\\\\x01"}') end, "22023", "duplicate")
    T.raises(function() enc("text[]", "{{a,b},{c,d}}") end, "22P02", "one-dimensional")
    T.raises(function() enc("text[]", "[1:2][1:1]={{a},{b}}") end, "22P02", "one-dimensional")
    for _, bad in ipairs({ "a,b", "{a", '{"a}', "{a}x", "{a,,b}", "{,}", "{a b", "{\"a\" b}", "[1:2={a}" }) do
        T.raises(function() enc("text[]", bad) end, "22P02", "malformed array literal", 'column "c"')
    end
end)

T.test("numeric arrays: NS both ways", function()
    T.eq(dec("numeric[]", { NS = { "1", N38, "1E-130", NMAX, "-2.5" } }),
        '{"1","' .. N38 .. '","1E-130","' .. NMAX .. '","-2.5"}')
    T.eq(dec("integer[]", { L = { { N = "1" }, { NULL = true } } }), '{"1",NULL}')
    T.raises(function() dec("integer[]", { L = { { S = "1" } } }) end, "22P02", "is a string, not a number")
    for _, ty in ipairs({ "numeric[]", "integer[]", "bigint[]", "smallint[]", "real[]", "double precision[]" }) do
        T.eq(enc(ty, "{1,-2,3.5}"), { NS = { "1", "-2", "3.5" } }, ty)
    end
    T.eq(enc("double precision[]", "{1e+100,-0,1.5}"), { NS = { "1e+100", "0", "1.5" } })
    T.eq(enc("numeric[]", "{" .. N38 .. ",1E-130}"), { NS = { N38, "1E-130" } })
    T.raises(function() enc("double precision[]", "{1,NaN}") end, "22023", "NaN")
    T.raises(function() enc("real[]", "{Infinity}") end, "22023")
    T.raises(function() enc("numeric[]", "{1E126}") end, "22003")
    T.raises(function() enc("numeric[]", "{abc}") end, "22P02")
end)

T.test("bytea[]: BS both ways", function()
    T.eq(dec("bytea[]", { BS = { "AAE=", "/w==", "" } }), '{"\\\\x0001","\\\\xff","\\\\x"}')
    T.eq(dec("bytea[]", { L = { { B = "AAE=" }, { NULL = true } } }), '{"\\\\x0001",NULL}')
    T.raises(function() dec("bytea[]", { BS = { "A" } }) end, "22P02", "base64")
    -- exactly what array_out gives for ARRAY['\x0001'::bytea, '\xff']
    T.eq(enc("bytea[]", '{"\\\\x0001","\\\\xff"}'), { BS = { "AAE=", "/w==" } })
    T.raises(function() enc("bytea[]", '{"\\\\xf"}') end, "22P02", "bytea")
    local lit = dec("bytea[]", { BS = { "AAE=", "/w==", "AAECAwQ=" } })
    T.eq(enc("bytea[]", lit), { BS = { "AAE=", "/w==", "AAECAwQ=" } })
end)

---------------------------------------------------------------------------
-- json / jsonb
---------------------------------------------------------------------------

T.test("json reads any attribute type as JSON text", function()
    for _, ty in ipairs({ "json", "jsonb" }) do
        T.eq(dec(ty, { S = 'a"b' }), '"a\\"b"')
        T.eq(dec(ty, { S = "" }), '""')
        T.eq(dec(ty, { N = N38 }), N38)
        T.eq(dec(ty, { N = NMAX }), NMAX)
        T.eq(dec(ty, { BOOL = false }), "false")
        T.eq(dec(ty, { NULL = true }), "null")
        T.eq(dec(ty, { B = "AAE=" }), '"AAE="')
        T.eq(dec(ty, { L = {} }), "[]")
        T.eq(dec(ty, { M = {} }), "{}")
        T.eq(dec(ty, { SS = { "a", "b" } }), '["a","b"]')
        T.eq(dec(ty, { NS = { "1", "1E-130" } }), "[1,1E-130]")
        T.eq(dec(ty, { BS = { "AAE=" } }), '["AAE="]')
        T.eq(dec(ty, { M = { b = { L = { { N = "1" }, { NULL = true } } }, a = { S = "x" } } }),
            '{"a":"x","b":[1,null]}')
        T.eq(dec(ty, nil), nil)
    end
    -- the same decoder serves many values
    local d = columns.decoder(col("jsonb"))
    T.eq(d({ S = "x" }, WHERE), '"x"')
    T.eq(d({ N = "2" }, WHERE), "2")
end)

T.test("json written by JSON type: object M, array L, string S, number N, bool, null", function()
    T.eq(enc("jsonb", '{"a": 1, "b": [true, null, "x"], "c": {}}'),
        { M = { a = { N = "1" }, b = { L = { { BOOL = true }, { NULL = true }, { S = "x" } } }, c = { M = {} } } })
    local l = enc("jsonb", "[]")
    T.eq(getmetatable(l.L), json.array_mt, "an empty array stays a list")
    T.eq(json.encode(l), '{"L":[]}')
    T.eq(enc("json", '"text"'), { S = "text" })
    T.eq(enc("json", '""'), { S = "" })
    T.eq(enc("json", N38), { N = N38 })
    T.eq(enc("json", "1E-130"), { N = "1E-130" })
    T.eq(enc("json", "-0"), { N = "0" })
    T.eq(enc("json", "true"), { BOOL = true })
    T.eq(enc("json", "null"), { NULL = true })
    T.eq(enc("json", nil), nil)
    -- jsonb prints 1e-130 as a long decimal: still one significant digit
    local long = "0." .. string.rep("0", 129) .. "1"
    T.eq(enc("jsonb", long), { N = long })
end)

T.test("json numbers DynamoDB cannot store name the column", function()
    T.raises(function() enc("jsonb", '{"a":[1e126]}') end, "22003", 'column "c"', "1E-130")
    T.raises(function() enc("jsonb", "1" .. string.rep("1", 38)) end, "22003", "38 significant digits")
    T.raises(function() enc("json", "{") end, "22P02", "invalid input syntax for type json")
end)

T.test("json: 32 nesting levels and every type round trip exactly", function()
    local av = { S = "deep" }
    for i = 1, 31 do
        av = (i % 2 == 0) and { M = { k = av } } or { L = { av, { N = N38 } } }
    end
    local text = dec("jsonb", av)
    local back = enc("jsonb", text)
    T.eq(back, av, "32 levels")
    T.eq(dec("jsonb", back), text)
    local mixed = cjson.decode('{"M":{"s":{"S":"x\\u00e9"},"n":{"N":"-1.50"},"b":{"BOOL":true},'
        .. '"z":{"NULL":true},"l":{"L":[]},"m":{"M":{}},"q":{"S":"\\"\\\\"}}}')
    T.eq(enc("json", dec("json", mixed)), mixed)
end)

---------------------------------------------------------------------------
-- date and time, ISO text
---------------------------------------------------------------------------

local TIME_TYPES = { "timestamp with time zone", "timestamp without time zone", "date" }

T.test("date and timestamps read S as is", function()
    for _, ty in ipairs(TIME_TYPES) do
        for _, s in ipairs({ "2024-01-02T03:04:05Z", "2024-01-02", "2024-01-02T03:04:05.123+05:30", "infinity" }) do
            T.eq(dec(ty, { S = s }), s, ty)
        end
        T.eq(dec(ty, nil), nil)
    end
end)

T.test("date and timestamps written as ISO 8601 text", function()
    local tz = "timestamp with time zone"
    T.eq(enc(tz, "2024-01-02 03:04:05.123+00"), { S = "2024-01-02T03:04:05.123+00:00" })
    T.eq(enc(tz, "2024-01-02 03:04:05+00"), { S = "2024-01-02T03:04:05+00:00" })
    T.eq(enc(tz, "2024-01-02 08:34:05.123456+05:30"), { S = "2024-01-02T08:34:05.123456+05:30" })
    T.eq(enc(tz, "2026-11-23 05:50:19-03"), { S = "2026-11-23T05:50:19-03:00" })
    T.eq(enc(tz, "1850-01-01 00:19:32+00:19:32"), { S = "1850-01-01T00:19:32+00:19:32" })
    T.eq(enc(tz, "0044-03-15 12:00:00+00 BC"), { S = "0044-03-15T12:00:00+00:00 BC" })
    T.eq(enc(tz, "infinity"), { S = "infinity" })
    T.eq(enc("timestamp without time zone", "2024-01-02 03:04:05.5"), { S = "2024-01-02T03:04:05.5" })
    T.eq(enc("date", "2024-01-02"), { S = "2024-01-02" })
    T.eq(enc("date", nil), nil)
end)

---------------------------------------------------------------------------
-- epoch time
---------------------------------------------------------------------------

local EPOCH = { format = "epoch" }
local TZ, TS = "timestamp with time zone", "timestamp without time zone"

T.test("epoch seconds read as UTC timestamps, exact to the microsecond", function()
    local cases = {
        { "0", "1970-01-01 00:00:00+00" },
        { "-1", "1969-12-31 23:59:59+00" },
        { "-0.5", "1969-12-31 23:59:59.5+00" },
        { "1700000000.123456", "2023-11-14 22:13:20.123456+00" },
        { "1700000000", "2023-11-14 22:13:20+00" },
        { "1.7E9", "2023-11-14 22:13:20+00" },
        { "17E+8", "2023-11-14 22:13:20+00" },
        { "1700000000.1234565", "2023-11-14 22:13:20.123457+00" },
        { "1700000000.1234564999", "2023-11-14 22:13:20.123456+00" },
        { "1700000000.9999995", "2023-11-14 22:13:21+00" },
        { "-86400.0000005", "1969-12-30 23:59:59.999999+00" },
        { "951782400", "2000-02-29 00:00:00+00" },
        { "253402300799.999999", "9999-12-31 23:59:59.999999+00" },
        { "253402300800", "10000-01-01 00:00:00+00" },
        { "-62135596800", "0001-01-01 00:00:00+00" },
        { "-62135596800.5", "0001-12-31 23:59:59.5+00 BC" },
        { "-62167219200", "0001-01-01 00:00:00+00 BC" },
        { "-62198755200", "0002-01-01 00:00:00+00 BC" },
        { "1E-130", "1970-01-01 00:00:00+00" },
        { "-1E-130", "1970-01-01 00:00:00+00" },
        { "0.0000004", "1970-01-01 00:00:00+00" },
        { "0.0000005", "1970-01-01 00:00:00.000001+00" },
        { "-0.0000005", "1969-12-31 23:59:59.999999+00" },
    }
    for _, c in ipairs(cases) do
        T.eq(dec(TZ, { N = c[1] }, EPOCH), c[2], c[1])
    end
    T.eq(dec(TS, { N = "1700000000.5" }, EPOCH), "2023-11-14 22:13:20.5")
    T.eq(dec(TS, { N = "-62135596800.5" }, EPOCH), "0001-12-31 23:59:59.5 BC")
    T.eq(dec(TZ, nil, EPOCH), nil)
    T.eq(dec(TZ, { NULL = true }, EPOCH), nil)
end)

T.test("epoch seconds read as UTC dates", function()
    T.eq(dec("date", { N = "0" }, EPOCH), "1970-01-01")
    T.eq(dec("date", { N = "-1" }, EPOCH), "1969-12-31")
    T.eq(dec("date", { N = "-0.000001" }, EPOCH), "1969-12-31")
    T.eq(dec("date", { N = "86399.999999" }, EPOCH), "1970-01-01")
    T.eq(dec("date", { N = "1700000000.123456" }, EPOCH), "2023-11-14")
    T.eq(dec("date", { N = "-62135596801" }, EPOCH), "0001-12-31 BC")
end)

T.test("epoch_ms reads milliseconds", function()
    local ms = { format = "epoch_ms" }
    T.eq(dec(TZ, { N = "1700000000123" }, ms), "2023-11-14 22:13:20.123+00")
    T.eq(dec(TZ, { N = "1700000000123.456" }, ms), "2023-11-14 22:13:20.123456+00")
    T.eq(dec(TZ, { N = "-1" }, ms), "1969-12-31 23:59:59.999+00")
    T.eq(dec("date", { N = "86400000" }, ms), "1970-01-02")
end)

T.test("epoch values beyond any timestamp are 22008", function()
    T.raises(function() dec(TZ, { N = "1E+20" }, EPOCH) end, "22008", "out of range", WHERE)
    T.raises(function() dec(TZ, { N = NMAX }, EPOCH) end, "22008")
    T.raises(function() dec("date", { N = "-" .. N38 }, EPOCH) end, "22008")
end)

T.test("timestamps written as epoch seconds", function()
    local cases = {
        { TZ, "1970-01-01 00:00:00+00", "0" },
        { TZ, "2024-01-02 03:04:05.123+00", "1704164645.123" },
        { TZ, "2024-01-02 08:34:05.123+05:30", "1704164645.123" },
        { TZ, "2024-01-01 23:04:05.123-04", "1704164645.123" },
        { TZ, "2026-11-23 05:50:19-03:30", "1795425619" },
        { TZ, "1850-01-01 00:19:32+00:19:32", "-3786825600" },
        { TZ, "1969-12-31 23:59:59.5+00", "-0.5" },
        { TZ, "1969-12-31 23:59:59.999999+00", "-0.000001" },
        { TZ, "1969-12-31 23:59:58.75+00", "-1.25" },
        { TZ, "2023-11-14 22:13:20.123456+00", "1700000000.123456" },
        { TZ, "0001-12-31 23:59:59.5+00 BC", "-62135596800.5" },
        { TZ, "0044-03-15 12:00:00+00:19:32 BC", "-63517781972" },
        { TZ, "294276-12-31 23:59:59.999999+00", "9224318015999.999999" },
        { TS, "2024-01-02 03:04:05.5", "1704164645.5" },
        { TS, "1969-12-31 00:00:00", "-86400" },
        { "date", "2024-01-02", "1704153600" },
        { "date", "1969-12-31", "-86400" },
        { "date", "0001-01-01 BC", "-62167219200" },
        { "date", "0002-01-01 BC", "-62198755200" },
    }
    for _, c in ipairs(cases) do
        T.eq(enc(c[1], c[2], EPOCH), { N = c[3] }, c[1] .. " " .. c[2])
    end
    T.eq(enc(TZ, "2024-01-02 03:04:05.123+00", { format = "epoch_ms" }), { N = "1704164645123" })
    T.eq(enc(TZ, "1969-12-31 23:59:59.9995+00", { format = "epoch_ms" }), { N = "-0.5" })
    T.eq(enc(TZ, "1970-01-01 00:00:00.000001+00", { format = "epoch_ms" }), { N = "0.001" })
    T.eq(enc(TZ, nil, EPOCH), nil)
end)

T.test("epoch round trips through the decoder", function()
    for _, n in ipairs({ "0", "-1", "-0.5", "1700000000.123456", "-62135596800.5", "951782400", "-0.000001" }) do
        T.eq(enc(TZ, dec(TZ, { N = n }, EPOCH), EPOCH), { N = n }, "timestamptz " .. n)
        T.eq(enc(TS, dec(TS, { N = n }, EPOCH), EPOCH), { N = n }, "timestamp " .. n)
    end
end)

T.test("epoch refuses infinity and text that is not ISO output", function()
    T.raises(function() enc(TZ, "infinity", EPOCH) end, "22008", "infinity", 'column "c"')
    T.raises(function() enc("date", "-infinity", EPOCH) end, "22008")
    T.raises(function() enc(TZ, "Tue Jan 02 03:04:05 2024 UTC", EPOCH) end, "22007", "DateStyle")
    T.raises(function() enc(TZ, "2024-01-02 03:04:05 junk", EPOCH) end, "22007")
end)

---------------------------------------------------------------------------
-- raw item column
---------------------------------------------------------------------------

T.test("raw item column reads and writes the whole item", function()
    local c = col("jsonb", { raw_item = "true" }, "_item")
    local item = cjson.decode('{"id":{"S":"a"},"n":{"N":"' .. N38 .. '"},"l":{"L":[]}}')
    T.eq(columns.decoder(c)(item, WHERE), types.item_to_json(item))
    T.eq(columns.decoder(c)(nil, WHERE), nil)
    local back = columns.encoder(c)(types.item_to_json(item))
    T.eq(back, item)
    T.eq(columns.encoder(c)(nil), nil)
    T.raises(function() columns.encoder(c)("[1]") end, "22023", "JSON object")
end)

---------------------------------------------------------------------------
-- IMPORT FOREIGN SCHEMA
---------------------------------------------------------------------------

local function by_column(defs)
    local m = {}
    for _, d in ipairs(defs) do m[d.column] = d end
    return m
end

T.test("infer: keys first and NOT NULL, then attributes by name, then the raw item column", function()
    local items = {
        cjson.decode('{"PK":{"S":"a"},"sk":{"N":"1"},"title":{"S":"x"},"count":{"N":"3"},"ok":{"BOOL":true},'
            .. '"blob":{"B":"AA=="},"tags":{"SS":["a"]},"nums":{"NS":["1"]},"bins":{"BS":["AA=="]},'
            .. '"doc":{"M":{}},"list":{"L":[]},"nothing":{"NULL":true},"mixed":{"S":"1"},"opt":{"NULL":true}}'),
        cjson.decode('{"PK":{"S":"b"},"sk":{"N":"2"},"mixed":{"N":"1"},"opt":{"S":"here"},"title":{"S":"y"}}'),
    }
    local defs = columns.infer(items, { partition_key = { name = "PK", type = "S" },
        sort_key = { name = "sk", type = "N" } }, {})
    local want = {
        { column = "pk", attribute = "PK", type = "text", not_null = true },
        { column = "sk", attribute = "sk", type = "numeric", not_null = true },
        { column = "bins", attribute = "bins", type = "bytea[]", not_null = false },
        { column = "blob", attribute = "blob", type = "bytea", not_null = false },
        { column = "count", attribute = "count", type = "numeric", not_null = false },
        { column = "doc", attribute = "doc", type = "jsonb", not_null = false },
        { column = "list", attribute = "list", type = "jsonb", not_null = false },
        { column = "mixed", attribute = "mixed", type = "jsonb", not_null = false },
        { column = "nothing", attribute = "nothing", type = "jsonb", not_null = false },
        { column = "nums", attribute = "nums", type = "numeric[]", not_null = false },
        { column = "ok", attribute = "ok", type = "boolean", not_null = false },
        { column = "opt", attribute = "opt", type = "text", not_null = false },
        { column = "tags", attribute = "tags", type = "text[]", not_null = false },
        { column = "title", attribute = "title", type = "text", not_null = false },
        { column = "_item", type = "jsonb", not_null = false, raw_item = true },
    }
    T.eq(#defs, #want, "count")
    for i = 1, #want do T.eq(defs[i], want[i], "definition " .. i) end
end)

T.test("infer: B keys, no sort key, no sample, no raw item column", function()
    local defs = columns.infer({}, { partition_key = { name = "id", type = "B" } }, { raw_item_column = "" })
    T.eq(defs, { { column = "id", attribute = "id", type = "bytea", not_null = true } })
    defs = columns.infer({}, { partition_key = { name = "n", type = "N" } })
    T.eq(defs[1], { column = "n", attribute = "n", type = "numeric", not_null = true })
    T.eq(defs[2], { column = "_item", type = "jsonb", not_null = false, raw_item = true })
    defs = columns.infer({}, { partition_key = { name = "id", type = "S" } }, { raw_item_column = "Whole Item" })
    T.eq(defs[2].column, "Whole Item")
end)

T.test("infer: odd attribute names become plain column names", function()
    local item = {}
    for _, n in ipairs({ "user.name", "order-id", "Status", "2fa", "name", "count", "user", "table", "select",
        "A", "a", "a.b", "a-b", "a_b", "_item", "Ünïcode", "with space", "x\0y" }) do
        item[n] = { S = "v" }
    end
    item.id = { S = "k" }
    local defs = columns.infer({ item }, { partition_key = { name = "id", type = "S" } })
    local byc = by_column(defs)
    local function attr_of(column) return byc[column] and byc[column].attribute end
    T.eq(attr_of("user_name"), "user.name")
    T.eq(attr_of("order_id"), "order-id")
    T.eq(attr_of("status"), "Status")
    T.eq(attr_of("_2fa"), "2fa")
    T.eq(attr_of("name"), "name")
    T.eq(attr_of("count"), "count")
    T.eq(attr_of("user"), "user")
    T.eq(attr_of("table"), "table")
    T.eq(attr_of("select"), "select")
    -- plain names win; derived names take _2, _3 in attribute order
    T.eq(attr_of("a"), "a")
    T.eq(attr_of("a_2"), "A")
    T.eq(attr_of("a_b"), "a_b")
    T.eq(attr_of("a_b_2"), "a-b")
    T.eq(attr_of("a_b_3"), "a.b")
    -- the raw item column keeps its name
    T.eq(byc._item.raw_item, true)
    T.eq(attr_of("_item_2"), "_item")
    T.eq(attr_of("_n_code"), "Ünïcode")
    T.eq(attr_of("with_space"), "with space")
    -- a name with NUL cannot be written in SQL: left to the raw item column
    for _, d in ipairs(defs) do T.ok(d.attribute ~= "x\0y", "NUL name skipped") end
    T.eq(#defs, 19)
    -- column names are unique
    local seen = {}
    for _, d in ipairs(defs) do
        T.ok(not seen[d.column], "unique " .. d.column)
        seen[d.column] = true
    end
end)

T.test("infer: long names are cut to 63 bytes, suffixes included", function()
    local long = string.rep("x", 70)
    local item = { id = { S = "k" }, [long] = { N = "1" }, [long .. "Y"] = { N = "2" },
        [string.rep("y", 63)] = { S = "s" } }
    local defs = columns.infer({ item }, { partition_key = { name = "id", type = "S" } })
    T.eq(defs[2].column, string.rep("x", 63))
    T.eq(defs[2].attribute, long)
    T.eq(defs[3].column, string.rep("x", 61) .. "_2")
    T.eq(defs[3].attribute, long .. "Y")
    T.eq(defs[4].column, string.rep("y", 63), "63 bytes is still plain")
    for _, d in ipairs(defs) do T.ok(#d.column <= 63, d.column) end
end)

T.test("infer: key attribute names are mapped too", function()
    local defs = columns.infer({ { ["Order ID"] = { S = "1" }, ["order_id"] = { S = "x" } } },
        { partition_key = { name = "Order ID", type = "S" } }, { raw_item_column = "" })
    T.eq(defs[1], { column = "order_id", attribute = "Order ID", type = "text", not_null = true })
    T.eq(defs[2], { column = "order_id_2", attribute = "order_id", type = "text", not_null = false })
end)

---------------------------------------------------------------------------
-- SQL
---------------------------------------------------------------------------

T.test("quote_ident and quote_literal", function()
    T.eq(columns.quote_ident("a"), '"a"')
    T.eq(columns.quote_ident('we"ird'), '"we""ird"')
    T.eq(columns.quote_ident("User"), '"User"')
    T.eq(columns.quote_literal("it's"), "'it''s'")
    T.eq(columns.quote_literal("a\\b"), "E'a\\\\b'")
    T.eq(columns.quote_literal("a\\'b"), "E'a\\\\''b'")
    T.eq(columns.quote_literal(""), "''")
    T.raises(function() columns.quote_ident("a\0") end, "22021", "NUL")
    T.raises(function() columns.quote_literal("a\0") end, "22021")
end)

T.test("create_table_sql quotes every name and writes the options", function()
    local defs = {
        { column = "pk", attribute = "PK", type = "text", not_null = true },
        { column = "total", attribute = "total", type = "numeric", not_null = false },
        { column = "_item", type = "jsonb", not_null = false, raw_item = true },
    }
    T.eq(columns.create_table_sql("local", "Orders", "s", "Orders", defs, {}),
        'CREATE FOREIGN TABLE "local"."Orders" ("pk" text OPTIONS (attribute \'PK\') NOT NULL, '
        .. '"total" numeric, "_item" jsonb OPTIONS (raw_item \'true\')) SERVER "s" OPTIONS ("table" \'Orders\')')
    local odd = {
        { column = "user", attribute = "user", type = "text", not_null = true },
        { column = "it_s", attribute = "it's", type = "text[]", not_null = false },
        { column = "b", attribute = "back\\slash", type = "double precision", not_null = false },
        { column = 'q"', attribute = 'q"', type = "timestamp with time zone", format = "epoch" },
    }
    T.eq(columns.create_table_sql('my "schema"', "T", "srv", "T.x-1", odd,
        { import_not_null = false, table_options = { { "readonly", "true" } } }),
        'CREATE FOREIGN TABLE "my ""schema"""."T" ("user" text, "it_s" text[] OPTIONS (attribute \'it\'\'s\'), '
        .. '"b" double precision OPTIONS (attribute E\'back\\\\slash\'), '
        .. '"q""" timestamp with time zone OPTIONS (format \'epoch\')) SERVER "srv" '
        .. 'OPTIONS ("table" \'T.x-1\', "readonly" \'true\')')
    T.eq(columns.create_table_sql(nil, "t", "s", "t", { defs[2] }),
        'CREATE FOREIGN TABLE "t" ("total" numeric) SERVER "s" OPTIONS ("table" \'t\')')
    T.raises(function()
        columns.create_table_sql("s", "t", "s", "t", { { column = "x", type = "text); DROP TABLE y; --" } })
    end, "22023", "type name")
end)

T.test("create_table_sql of infer output for odd names", function()
    local item = { ["user.name"] = { S = "x" }, id = { S = "k" }, ["Total"] = { N = "1" } }
    local defs = columns.infer({ item }, { partition_key = { name = "id", type = "S" } })
    T.eq(columns.create_table_sql("public", "orders", "dynamo", "Orders", defs),
        'CREATE FOREIGN TABLE "public"."orders" ("id" text NOT NULL, "total" numeric OPTIONS (attribute \'Total\'), '
        .. '"user_name" text OPTIONS (attribute \'user.name\'), "_item" jsonb OPTIONS (raw_item \'true\')) '
        .. 'SERVER "dynamo" OPTIONS ("table" \'Orders\')')
end)

T.test("json_to_av converts one JSON value of any type", function()
    T.eq(columns.json_to_av('"x"'), { S = "x" })
    T.eq(columns.json_to_av(N38), { N = N38 })
    T.eq(columns.json_to_av("[]"), { L = {} })
    T.eq(getmetatable(columns.json_to_av("[]").L), json.array_mt)
    T.eq(columns.json_to_av('{"a":[null,false]}'), { M = { a = { L = { { NULL = true }, { BOOL = false } } } } })
    T.raises(function() columns.json_to_av("NaN") end, "22P02")
    T.raises(function() columns.json_to_av("1e999", col("jsonb", {}, "doc")) end, "22003", 'column "doc"')
end)

T.test("a type modifier in the type name is ignored", function()
    T.eq(dec("character varying(10)", { S = "x" }), "x")
    T.eq(dec("numeric(10,2)", { N = "1.5" }), "1.5")
    T.eq(dec("timestamp(3) with time zone", { N = "0" }, EPOCH), "1970-01-01 00:00:00+00")
end)
