-- SigV4 against every case under testdata/sigv4 (botocore, aws-c-auth and
-- hand-written DynamoDB vectors; see testdata/sigv4/README.md), plus the
-- derived signing keys and the date arithmetic.
-- Cases come from cases.tsv and from the directory listing, so a case added
-- to the folder is checked without touching this file.
local T = require "testlib"
local cjson = require "cjson"
local capi = require "dynamo_lua_fdw.capi"
local sigv4 = require "dynamo_lua_fdw.aws.sigv4"

local DIR = T.testdata .. "/sigv4"

-- The botocore harness constants (README: "Parameters common to all three suites").
local BOTOCORE = {
    creds = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    time = "20150830T123600Z", region = "us-east-1", service = "service",
}

local function exists(path)
    local f = io.open(path, "rb")
    if f then f:close() end
    return f ~= nil
end

local function split(s, sep)
    local out = {}
    for piece in (s .. sep):gmatch("(.-)" .. sep) do out[#out + 1] = piece end
    return out
end

-- README ".req format": body after the first "\n\n"; trailing "\n" of the head
-- is not a separator; method up to the first space, version after the last;
-- a line starting with whitespace continues the previous header.
local function parse_request(text)
    local head, body = text:match("^(.-)\n\n(.*)$")
    if not head then head, body = text, "" end
    head = head:gsub("\n+$", "")
    local lines = split(head, "\n")
    local method, target = lines[1]:match("^([^ ]+) (.*) [^ ]+$")
    assert(method, "bad request line: " .. lines[1])
    local req = { method = method, path = target, headers = {}, body = body }
    local q = target:find("?", 1, true)
    if q then req.path, req.query = target:sub(1, q - 1), target:sub(q + 1) end
    for i = 2, #lines do
        local line = lines[i]
        if line:match("^[ \t]") then
            local h = assert(req.headers[#req.headers], "continuation before any header")
            h[2] = h[2] .. " " .. line
        else
            local name, value = line:match("^([^:]+):(.*)$")
            assert(name, "bad header line: " .. line)
            req.headers[#req.headers + 1] = { name, value }
        end
    end
    return req
end

-- Headers as a sorted multiset of "name:value" (the order in signed-request
-- files is informational only).
local function header_set(...)
    local out = {}
    for _, list in ipairs({ ... }) do
        for _, h in ipairs(list) do
            out[#out + 1] = h[1]:lower() .. ":" .. (h[2]:gsub("%s+", " "):match("^ ?(.-) ?$"))
        end
    end
    table.sort(out)
    return out
end

-- Query parameters as a sorted list with one encoding, whatever the input's.
local function param_set(query)
    local out = {}
    for part in query:gmatch("[^&]+") do
        local decoded = part:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
        out[#out + 1] = decoded:gsub("[^A-Za-z0-9%-%._~=]", function(c) return string.format("%%%02X", c:byte()) end)
    end
    table.sort(out)
    return out
end

-- The manifest, keyed "suite/case".
local manifest, order = {}, {}
do
    local first = true
    for line in io.lines(DIR .. "/cases.tsv") do
        if first then
            first = false
        elseif line ~= "" then
            local f = split(line, "\t")
            local key = f[1] .. "/" .. f[2]
            manifest[key] = { suite = f[1], case = f[2], normalize = f[4], session_token = f[5], tags = {} }
            for tag in f[6]:gmatch("[^,]+") do manifest[key].tags[tag] = true end
            order[#order + 1] = key
        end
    end
end

-- Every suite/case folder on disk.
local on_disk = {}
do
    local p = io.popen("cd '" .. DIR .. "' && ls -d */*/ 2>/dev/null")
    for line in p:lines() do on_disk[line:gsub("/$", "")] = true end
    p:close()
end

T.test("cases.tsv and the case folders agree", function()
    T.ok(#order >= 74, "cases.tsv lists at least the 74 documented cases (got " .. #order .. ")")
    for _, key in ipairs(order) do T.ok(on_disk[key], key .. " (in cases.tsv) has a folder") end
    for key in pairs(on_disk) do T.ok(manifest[key], key .. " (a folder) has a row in cases.tsv") end
end)

-- Cases to run: the manifest's, then any folder it does not list yet.
local keys = {}
for _, key in ipairs(order) do keys[#keys + 1] = key end
do
    local extra = {}
    for key in pairs(on_disk) do if not manifest[key] then extra[#extra + 1] = key end end
    table.sort(extra)
    for _, key in ipairs(extra) do keys[#keys + 1] = key end
end

-- Inputs for one case, from its own files (the manifest only cross-checks).
local function load_case(key)
    local dir = DIR .. "/" .. key
    local name = key:match("[^/]+$")
    local c = { dir = dir, row = manifest[key] or { tags = {} } }
    if exists(dir .. "/" .. name .. ".req") then -- botocore layout
        local function file(ext) return T.read_file(dir .. "/" .. name .. "." .. ext) end
        c.req = parse_request(file("req"))
        c.creds = { access_key_id = BOTOCORE.creds.access_key_id, secret_access_key = BOTOCORE.creds.secret_access_key }
        c.opts = { time = BOTOCORE.time, region = BOTOCORE.region, service = BOTOCORE.service }
        c.expect = { creq = file("creq"), sts = file("sts"), authz = file("authz") }
        c.sreq = file("sreq")
        -- As botocore's harness does: a signed token is read from the .creq;
        -- an unsigned one only shows up in the .sreq.
        local signed = c.expect.creq:match("\nx%-amz%-security%-token:([^\n]*)")
        local unsigned = c.sreq:match("\nX%-Amz%-Security%-Token:([^\n]*)")
        if signed then
            c.creds.session_token, c.token_mode = signed, "signed"
        elseif unsigned then
            c.creds.session_token, c.token_mode = unsigned, "unsigned"
            c.opts.omit_session_token = true
        end
    else -- aws-c-auth / dynamodb layout
        local function file(n) return exists(dir .. "/" .. n) and T.read_file(dir .. "/" .. n) or nil end
        local ctx = cjson.decode(T.read_file(dir .. "/context.json"))
        c.req = parse_request(T.read_file(dir .. "/request.txt"))
        c.creds = { access_key_id = ctx.credentials.access_key_id,
                    secret_access_key = ctx.credentials.secret_access_key,
                    session_token = ctx.credentials.token }
        c.opts = { time = (ctx.timestamp:gsub("[-:]", "")), region = ctx.region, service = ctx.service,
                   normalize = ctx.normalize, sign_body = ctx.sign_body == true,
                   omit_session_token = ctx.omit_session_token == true, expires = ctx.expiration_in_seconds }
        if ctx.credentials.token then c.token_mode = c.opts.omit_session_token and "unsigned" or "signed" end
        c.expect = { creq = file("header-canonical-request.txt"), sts = file("header-string-to-sign.txt"),
                     signature = file("header-signature.txt"), authz = file("header-authorization.txt"),
                     q_creq = file("query-canonical-request.txt"), q_sts = file("query-string-to-sign.txt"),
                     q_signature = file("query-signature.txt") }
        c.sreq, c.qsreq, c.body = file("header-signed-request.txt"), file("query-signed-request.txt"), file("body.json")
    end
    return c
end

local checked = { header = 0, query = 0 }

for _, key in ipairs(keys) do
    T.test(key .. " header signing", function()
        local c = load_case(key)
        local e = c.expect
        T.ok(e.creq and e.sts and (e.signature or e.authz), "the case has header-signing expectations")
        if manifest[key] then -- the manifest describes what the files hold
            T.eq(c.token_mode or "none", c.row.session_token, "session_token column")
            T.eq(tostring(c.opts.normalize ~= false), c.row.normalize, "normalize column")
        end
        if c.body then T.eq(c.req.body, c.body, "request body is body.json") end

        local r = sigv4.sign(c.req, c.creds, c.opts)
        T.eq(r.canonical_request, e.creq, "canonical request")
        T.eq(r.string_to_sign, e.sts, "string to sign")
        if e.signature then T.eq(r.signature, e.signature, "signature") end
        if e.authz then T.eq(r.authorization, e.authz, "Authorization") end
        T.eq(r.headers[#r.headers][1], "Authorization", "Authorization comes last")
        T.eq(r.headers[#r.headers][2], r.authorization, "Authorization header value")

        -- The signed request on file = the request's headers + what sign() added.
        local sreq = parse_request(c.sreq)
        T.eq(sreq.body, c.req.body, "signed request body")
        local got, want = header_set(c.req.headers, r.headers), header_set(sreq.headers)
        if c.row.tags["sreq-signature-wrong-use-authz"] then
            -- Upstream copy error (README): its Authorization line is get-vanilla's.
            local function drop_authz(set)
                for i = #set, 1, -1 do if set[i]:find("^authorization:") then table.remove(set, i) end end
            end
            drop_authz(got); drop_authz(want)
        end
        T.eq(got, want, "headers of the signed request")
        checked.header = checked.header + 1
    end)

    if exists(DIR .. "/" .. key .. "/query-canonical-request.txt") then
        T.test(key .. " query signing", function()
            local c = load_case(key)
            local e = c.expect
            local q = sigv4.presign(c.req, c.creds, c.opts)
            T.eq(q.canonical_request, e.q_creq, "canonical request")
            T.eq(q.string_to_sign, e.q_sts, "string to sign")
            T.eq(q.signature, e.q_signature, "signature")
            T.ok(q.query:sub(-81) == "&X-Amz-Signature=" .. q.signature, "X-Amz-Signature is last")
            local target = parse_request(c.qsreq).query
            T.eq(param_set(q.query), param_set(target), "parameters of the signed URL")
            checked.query = checked.query + 1
        end)
    end
end

T.test("every case was checked", function()
    T.eq(checked.header, #keys, "cases with header signing checked")
    local q = 0
    for _, key in ipairs(keys) do
        if exists(DIR .. "/" .. key .. "/query-canonical-request.txt") then q = q + 1 end
    end
    T.ok(q >= 38, "aws-c-auth query cases found")
    T.eq(checked.query, q, "cases with query signing checked")
end)

T.test("signing-keys.tsv", function()
    local n, first = 0, true
    for line in io.lines(DIR .. "/signing-keys.tsv") do
        if first then
            first = false
        elseif line ~= "" then
            local f = split(line, "\t")
            T.eq(capi.hex(sigv4.signing_key(f[1], f[2], f[3], f[4])), f[5], table.concat(f, " ", 2, 4))
            n = n + 1
        end
    end
    T.ok(n >= 5, "read the signing keys")
end)

T.test("negative control: a changed secret changes the signature", function()
    local c = load_case("botocore/get-vanilla")
    local good = sigv4.sign(c.req, c.creds, c.opts)
    T.eq(good.authorization, c.expect.authz, "the real secret reproduces .authz")
    local creds = { access_key_id = c.creds.access_key_id,
                    secret_access_key = c.creds.secret_access_key:gsub("^w", "W") }
    local bad = sigv4.sign(c.req, creds, c.opts)
    T.eq(bad.canonical_request, c.expect.creq, "the canonical request does not depend on the secret")
    T.ok(bad.signature ~= good.signature, "signature differs")
    T.ok(bad.authorization ~= c.expect.authz, "Authorization differs")
    local again = sigv4.sign(c.req, c.creds, c.opts)
    T.eq(again.signature, good.signature, "the key cache keeps secrets apart")
end)

T.test("amz_date is UTC calendar arithmetic", function()
    T.eq(sigv4.amz_date(1440938160), "20150830T123600Z")
    T.eq(sigv4.amz_date(1440938160.9), "20150830T123600Z")
    T.eq(sigv4.amz_date(0), "19700101T000000Z")
    T.eq(sigv4.amz_date(951782400), "20000229T000000Z")
    T.eq(sigv4.amz_date(4107542399), "21000228T235959Z")
    T.eq(sigv4.amz_date(4107542400), "21000301T000000Z")
    local t = 0
    for _ = 1, 2000 do
        T.eq(sigv4.amz_date(t), os.date("!%Y%m%dT%H%M%SZ", t), "amz_date(" .. t .. ")")
        t = t + 2147483 + 7919 -- about 25 days and a prime, to wander through the clock
    end
end)

T.test("opts.time: epoch number and compact string agree; anything else is refused", function()
    local c = load_case("aws-c-auth/get-vanilla")
    local a = sigv4.sign(c.req, c.creds, c.opts)
    c.opts.time = 1440938160
    T.eq(sigv4.sign(c.req, c.creds, c.opts).signature, a.signature, "signature")
    T.eq(a.headers[1], { "X-Amz-Date", "20150830T123600Z" }, "added X-Amz-Date")
    c.opts.time = "2015-08-30T12:36:00Z"
    T.raises(function() sigv4.sign(c.req, c.creds, c.opts) end, "opts.time")
end)

T.test("payload_hash is used instead of hashing the body", function()
    local c = load_case("aws-c-auth/post-x-www-form-urlencoded")
    local want = sigv4.sign(c.req, c.creds, c.opts)
    c.opts.payload_hash = capi.hex(capi.sha256(c.req.body))
    c.req.body = "not the body"
    T.eq(sigv4.sign(c.req, c.creds, c.opts).signature, want.signature, "signature")
end)
