-- The C hashing/encoding functions against published vectors.
local T = require "testlib"
local capi = require "dynamo_lua_fdw.capi"

T.test("sha256 of the empty string", function()
    T.eq(capi.hex(capi.sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
end)

T.test("hmac_sha256 RFC 4231 case 2", function()
    T.eq(capi.hex(capi.hmac_sha256("Jefe", "what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
end)

T.test("base64 round trip and strictness", function()
    for _, s in ipairs({ "", "f", "fo", "foo", "foob", "fooba", "foobar", "\0\255\1" }) do
        T.eq(capi.base64_decode(capi.base64_encode(s)), s, s)
    end
    T.eq(capi.base64_encode("foobar"), "Zm9vYmFy")
    T.eq(select(2, capi.base64_decode("Zm9")), "base64 length is not a multiple of 4")
    T.eq(select(2, capi.base64_decode("Zm=v")), "invalid base64 character")
    T.eq(select(2, capi.base64_decode("Zm9v\nYmFy")), "base64 length is not a multiple of 4")
end)

T.test("crc32 vectors from testdata/dynamodb/crc32-vectors.tsv", function()
    local n = 0
    for line in io.lines(T.testdata .. "/dynamodb/crc32-vectors.tsv") do
        local header, hex, len, expect, body = line:match("^(%d+)\t(%x+)\t(%d+)\t(%a+)\t([^\t]*)\t")
        if header then
            n = n + 1
            T.eq(#body, tonumber(len), "body length")
            T.eq(capi.crc32(body) == tonumber(header), expect == "match", "crc32 of " .. body)
        end
    end
    T.ok(n >= 4, "read the vectors")
end)

T.test("random_bytes: the length asked for, a new value each time, bounds checked", function()
    local a, b = capi.random_bytes(16), capi.random_bytes(16)
    T.eq(#a, 16)
    T.ok(a ~= b)
    T.eq(pcall(capi.random_bytes, 0), false)
    T.eq(pcall(capi.random_bytes, 257), false)
end)
