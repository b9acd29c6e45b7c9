-- The credential chain: order, shared files, environment, container and
-- IMDSv2 endpoints (fake HTTP only: nothing is ever sent to 169.254.x.x),
-- caching of temporary credentials, and the "none found" error.
local T = require "testlib"
local cjson = require "cjson"
local capi = require "dynamo_lua_fdw.capi"
local credentials = require "dynamo_lua_fdw.aws.credentials"

local T0 = 1440938160 -- 2015-08-30T12:36:00Z
local FAKE_IMDS = "http://127.0.0.1:1"

local function reset(env, files)
    capi.env = env or {}
    capi.aws_files = files
    capi.logged, capi.slept = {}, {}
    capi.set_now(T0)
    capi.persistent().aws = nil
    capi.http_handler = function(req) error("unexpected HTTP request to " .. req.url) end
end

local function header(req, name)
    for _, h in ipairs(req.headers or {}) do
        local n, v = h:match("^([^:]+):%s*(.*)$")
        if n:lower() == name:lower() then return v end
    end
end

local function creds_doc(id, expiration)
    return cjson.encode{ Code = "Success", Type = "AWS-HMAC", AccessKeyId = id,
        SecretAccessKey = "secret-of-" .. id, Token = "token-of-" .. id, Expiration = expiration,
        LastUpdated = "2015-08-30T12:00:00Z" }
end

-- A fake metadata world: container endpoint and IMDSv2 at FAKE_IMDS; records every request.
local function metadata(opts)
    opts = opts or {}
    local reqs = {}
    capi.http_handler = function(req)
        reqs[#reqs + 1] = req
        local url = req.url
        if opts.container_url and url == opts.container_url then
            if opts.container_status then return opts.container_status, {}, "denied" end
            return 200, {}, creds_doc("ASIACONTAINER", opts.expiration or "2015-08-30T18:36:00Z")
        end
        if url == FAKE_IMDS .. "/latest/api/token" then
            if opts.imds_down then return nil, "Couldn't connect to server", "connect" end
            return 200, {}, "IMDSTOKEN"
        end
        if url == FAKE_IMDS .. "/latest/meta-data/iam/security-credentials/" then
            if header(req, "X-aws-ec2-metadata-token") ~= "IMDSTOKEN" then return 401, {}, "" end
            if opts.no_role then return 404, {}, "" end
            return 200, {}, "my-role\n"
        end
        if url == FAKE_IMDS .. "/latest/meta-data/iam/security-credentials/my-role" then
            if header(req, "X-aws-ec2-metadata-token") ~= "IMDSTOKEN" then return 401, {}, "" end
            return 200, {}, creds_doc("ASIAIMDS", opts.expiration or "2015-08-30T18:36:00Z")
        end
        error("unexpected HTTP request to " .. url)
    end
    return reqs
end

local FILES = {
    credentials = "# shared credentials\n[default]\naws_access_key_id = AKIDDEFAULT\n"
        .. "aws_secret_access_key = secretdefault\n\n[dev]\naws_access_key_id=AKIDDEV\n"
        .. "aws_secret_access_key=secretdev\r\n; comment\n[both]\naws_access_key_id = AKIDBOTH_CREDS\n"
        .. "aws_secret_access_key = secretboth\n",
    config = "[default]\nregion = us-east-1\n[profile cfg]\nregion = eu-west-1\naws_access_key_id = AKIDCFG\n"
        .. "aws_secret_access_key = secretcfg\naws_session_token = tokencfg\ns3 =\n  max_concurrent_requests = 20\n"
        .. "[profile both]\naws_access_key_id = AKIDBOTH_CONFIG\naws_secret_access_key = x\n"
        .. "[profile roleonly]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = default\n",
}

---------------------------------------------------------------------------

T.test("the chain order: user mapping, named profile, env, default profile, container, IMDS", function()
    local user = { access_key_id = "AKIDUSER", secret_access_key = "secretuser" }
    local env = { AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "secretenv",
        AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1:9/creds",
        AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS }
    local function resolve(server, u)
        return credentials.resolve{ server_options = server or {}, user_options = u or {} }
    end
    reset(env, FILES)
    metadata{ container_url = "http://127.0.0.1:9/creds" }
    T.eq(resolve({ profile = "dev" }, user).access_key_id, "AKIDUSER", "1. user mapping")
    T.eq(resolve({ profile = "dev" }, user).source, "user mapping")
    T.eq(resolve({ profile = "dev" }).access_key_id, "AKIDDEV", "2. named profile beats env")
    T.eq(resolve({ profile = "dev" }).source, "profile")
    T.eq(resolve().access_key_id, "AKIDENV", "3. env beats the default profile")
    T.eq(resolve().source, "environment")
    env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY = nil, nil
    T.eq(resolve().access_key_id, "AKIDDEFAULT", "4. default profile beats container")
    capi.aws_files = nil
    local c = resolve()
    T.eq({ c.access_key_id, c.source, c.temporary }, { "ASIACONTAINER", "container", true }, "5. container beats IMDS")
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI = nil
    c = resolve()
    T.eq({ c.access_key_id, c.source, c.session_token }, { "ASIAIMDS", "imds", "token-of-ASIAIMDS" }, "6. IMDS")
    T.ok(c.description:find("my-role", 1, true), c.description)
    T.ok(not tostring(c):find("ASIAIMDS", 1, true), "tostring shows no key")
end)

T.test("profiles from the shared files: server option profile, AWS_PROFILE, precedence", function()
    reset({}, FILES)
    local c = credentials.resolve{ server_options = { profile = "dev" } }
    T.eq({ c.access_key_id, c.secret_access_key, c.session_token }, { "AKIDDEV", "secretdev", nil }, "credentials file [dev] with CRLF")
    reset({ AWS_PROFILE = "cfg" }, FILES)
    c = credentials.resolve{}
    T.eq({ c.access_key_id, c.secret_access_key, c.session_token }, { "AKIDCFG", "secretcfg", "tokencfg" },
        "config file [profile cfg] via AWS_PROFILE")
    T.ok(c.description:find('profile "cfg"', 1, true), c.description)
    c = credentials.resolve{ server_options = { profile = "both" } }
    T.eq(c.access_key_id, "AKIDBOTH_CREDS", "server option beats AWS_PROFILE; credentials file beats config file")
    -- [default] in the config file only.
    reset({}, { config = "[default]\naws_access_key_id = AKIDCONFIGDEFAULT\naws_secret_access_key = s\n" })
    T.eq(credentials.resolve{}.access_key_id, "AKIDCONFIGDEFAULT")
    reset({}, { config = "[profile default]\naws_access_key_id = AKIDPROFILEDEFAULT\naws_secret_access_key = s\n" })
    T.eq(credentials.resolve{}.access_key_id, "AKIDPROFILEDEFAULT")
    -- A named profile that does not exist is an error, not a silent fall-through.
    reset({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "secretenv" }, FILES)
    T.raises(function() credentials.resolve{ server_options = { profile = "nope" } } end,
        "28000", 'AWS profile "nope" not found')
    -- A profile with half a key pair is an error that names the missing key, not the value.
    reset({}, { credentials = "[half]\naws_access_key_id = AKIDHALFSECRET\n" })
    local err = T.raises(function() credentials.resolve{ server_options = { profile = "half" } } end,
        "28000", "incomplete AWS credentials", "aws_secret_access_key")
    T.ok(not (err.message .. (err.detail or "") .. (err.hint or "")):find("AKIDHALFSECRET", 1, true), "no key id in error")
    T.eq(credentials.parse_ini("[a]\nk = v = w\n  nested = 1\n#c\n[ b ]\nK=1")["a"], { k = "v = w" })
    T.eq(credentials.parse_ini("[ b ]\nK=1").b, { k = "1" })
end)

T.test("environment variables, with and without a session token", function()
    reset({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "secretenv", AWS_SESSION_TOKEN = "tokenenv" })
    local c = credentials.resolve{}
    T.eq({ c.access_key_id, c.secret_access_key, c.session_token, c.temporary }, { "AKIDENV", "secretenv", "tokenenv", false })
    reset({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "secretenv", AWS_SESSION_TOKEN = "" })
    T.eq(credentials.resolve{}.session_token, nil, "empty token is no token")
    reset({ AWS_ACCESS_KEY_ID = "AKIDENVONLY" })
    local err = T.raises(function() credentials.resolve{} end, "28000", "incomplete AWS credentials in the environment",
        "AWS_SECRET_ACCESS_KEY")
    T.ok(not (err.message .. err.detail .. err.hint):find("AKIDENVONLY", 1, true), "no key id in error")
    -- user mapping with a session token; half a user mapping is an error.
    reset()
    local u = credentials.resolve{ user_options = { access_key_id = "AKIDU", secret_access_key = "su", session_token = "tu" } }
    T.eq({ u.access_key_id, u.session_token }, { "AKIDU", "tu" })
    T.raises(function() credentials.resolve{ user_options = { access_key_id = "AKIDU" } } end,
        "28000", "incomplete AWS credentials in the user mapping", "secret_access_key")
end)

T.test("container credentials: full URI with the token header, relative URI, token file unsupported", function()
    reset({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1:51679/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer container-token", AWS_EC2_METADATA_DISABLED = "true" })
    local reqs = metadata{ container_url = "http://127.0.0.1:51679/v1/credentials" }
    local c = credentials.resolve{}
    T.eq(#reqs, 1)
    T.eq(reqs[1].method, "GET")
    T.eq(reqs[1].url, "http://127.0.0.1:51679/v1/credentials")
    T.eq(header(reqs[1], "Authorization"), "Bearer container-token")
    T.eq({ c.access_key_id, c.secret_access_key, c.session_token }, { "ASIACONTAINER", "secret-of-ASIACONTAINER",
        "token-of-ASIACONTAINER" })
    T.eq(c.expires_at, T0 + 6 * 3600)
    T.ok(reqs[1].timeout_ms and reqs[1].timeout_ms <= 2000, "short timeout")
    -- Relative URI: appended to the ECS address (asked of the fake only).
    reset({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "/v2/credentials/abc-123", AWS_EC2_METADATA_DISABLED = "true",
        AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1:51679/ignored" })
    reqs = metadata{ container_url = "http://169.254.170.2/v2/credentials/abc-123" }
    T.eq(credentials.resolve{}.access_key_id, "ASIACONTAINER")
    T.eq(reqs[1].url, "http://169.254.170.2/v2/credentials/abc-123", "relative URI wins over full URI")
    T.eq(header(reqs[1], "Authorization"), nil, "no token, no header")
    -- A failing endpoint is an error, naming the URL but no secret.
    reset({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://localhost:7/creds", AWS_CONTAINER_AUTHORIZATION_TOKEN = "tok-secret" })
    metadata{ container_url = "http://localhost:7/creds", container_status = 403 }
    local err = T.raises(function() credentials.resolve{} end, "28000", "container credentials endpoint", "HTTP 403")
    T.ok(not (err.detail .. err.hint):find("tok-secret", 1, true), "token not shown")
    -- Plain http to an arbitrary host is refused (botocore's rule).
    reset({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://evil.example.com/creds" })
    T.raises(function() credentials.resolve{} end, "28000", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    -- The token-file variant cannot be read through capi: skipped with a note.
    reset({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://169.254.170.23/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = "/var/run/secrets/token", AWS_EC2_METADATA_DISABLED = "true" })
    reqs = metadata{}
    T.raises(function() credentials.resolve{} end, "28000", "no AWS credentials found",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    T.eq(#reqs, 0, "nothing asked")
end)

T.test("IMDSv2: token, role, credentials at AWS_EC2_METADATA_SERVICE_ENDPOINT", function()
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS .. "/" })
    local reqs = metadata{ expiration = "2015-08-30T13:36:00.000+00:00" }
    local c = credentials.resolve{}
    T.eq(#reqs, 3)
    T.eq({ reqs[1].method, reqs[1].url }, { "PUT", FAKE_IMDS .. "/latest/api/token" })
    T.eq(header(reqs[1], "X-aws-ec2-metadata-token-ttl-seconds"), "21600")
    T.eq({ reqs[2].method, reqs[2].url }, { "GET", FAKE_IMDS .. "/latest/meta-data/iam/security-credentials/" })
    T.eq(header(reqs[2], "X-aws-ec2-metadata-token"), "IMDSTOKEN")
    T.eq({ reqs[3].method, reqs[3].url }, { "GET", FAKE_IMDS .. "/latest/meta-data/iam/security-credentials/my-role" })
    T.eq(header(reqs[3], "X-aws-ec2-metadata-token"), "IMDSTOKEN")
    for _, r in ipairs(reqs) do T.ok(r.timeout_ms and r.timeout_ms <= 1000, "short timeout") end
    T.eq({ c.access_key_id, c.secret_access_key, c.session_token, c.expires_at },
        { "ASIAIMDS", "secret-of-ASIAIMDS", "token-of-ASIAIMDS", T0 + 3600 })
    -- No role attached, or no metadata service: not found, with a note.
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    metadata{ no_role = true }
    T.raises(function() credentials.resolve{} end, "28000", "no AWS credentials found", "no IAM role is attached")
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    metadata{ imds_down = true }
    T.raises(function() credentials.resolve{} end, "28000", "no AWS credentials found", "Couldn't connect to server")
end)

T.test("AWS_EC2_METADATA_DISABLED=true skips IMDS without a request", function()
    for _, v in ipairs({ "true", "TRUE", "True" }) do
        reset({ AWS_EC2_METADATA_DISABLED = v, AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
        local reqs = metadata{}
        T.raises(function() credentials.resolve{} end, "28000", "no AWS credentials found", "AWS_EC2_METADATA_DISABLED")
        T.eq(#reqs, 0, "no request with AWS_EC2_METADATA_DISABLED=" .. v)
    end
    reset({ AWS_EC2_METADATA_DISABLED = "false", AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    local reqs = metadata{}
    T.eq(credentials.resolve{}.access_key_id, "ASIAIMDS", "false does not disable")
    T.eq(#reqs, 3)
end)

T.test("temporary credentials are cached until 5 minutes before they expire", function()
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    local reqs = metadata{ expiration = "2015-08-30T13:36:00Z" } -- T0 + 1 h
    local first = credentials.resolve{}
    T.eq(#reqs, 3)
    T.eq(credentials.resolve{}, first, "second resolve from the cache")
    T.eq(#reqs, 3, "no new request")
    T.ok(capi.persistent().aws.credentials ~= nil, "cache lives in capi.persistent()")
    capi.set_now(T0 + 3600 - 301)
    credentials.resolve{}
    T.eq(#reqs, 3, "still cached 5 min + 1 s before expiry")
    capi.set_now(T0 + 3600 - 300)
    credentials.resolve{}
    T.eq(#reqs, 6, "fetched again 5 min before expiry")
    -- The container source caches the same way, keyed by its URL.
    reset({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1:9/c" })
    reqs = metadata{ container_url = "http://127.0.0.1:9/c", expiration = "2015-08-30T12:46:00Z" }
    credentials.resolve{}
    credentials.resolve{}
    T.eq(#reqs, 1, "container credentials cached")
    capi.set_now(T0 + 300)
    credentials.resolve{}
    T.eq(#reqs, 2, "refetched at expiry - 5 min")
    -- Credentials already inside the refresh window are used but not cached.
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    reqs = metadata{ expiration = "2015-08-30T12:40:00Z" }
    T.eq(credentials.resolve{}.access_key_id, "ASIAIMDS")
    credentials.resolve{}
    T.eq(#reqs, 6, "not cached")
    -- invalidate() drops a cached entry.
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    reqs = metadata{}
    local c = credentials.resolve{}
    credentials.invalidate(c)
    credentials.resolve{}
    T.eq(#reqs, 6, "fetched again after invalidate")
end)

T.test("none found: 28000 with a hint listing the sources in order", function()
    reset({ AWS_EC2_METADATA_SERVICE_ENDPOINT = FAKE_IMDS })
    metadata{ imds_down = true }
    local err = T.raises(function() credentials.resolve{ server_options = {}, user_options = {} } end,
        "28000", "no AWS credentials found")
    T.eq(err.message, "no AWS credentials found")
    local order = { "user mapping", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", 'profile "default"',
        "container credentials", "EC2 instance metadata" }
    local last = 0
    for i, s in ipairs(order) do
        local at = err.hint:find(s, 1, true)
        T.ok(at and at > last, "source " .. i .. " (" .. s .. ") listed in order: " .. err.hint)
        last = at
    end
    T.ok(err.hint:find("PostgreSQL server process", 1, true), "whose environment")
    -- Unsupported profile kinds are mentioned rather than silently ignored.
    reset({ AWS_EC2_METADATA_DISABLED = "true" }, FILES)
    err = T.raises(function() credentials.resolve{ server_options = { profile = "roleonly" } } end,
        "28000", "no AWS credentials found", "role_arn")
    T.ok(err.hint:find('profile "roleonly"', 1, true), err.hint)
end)

T.test("ISO 8601 expiration times", function()
    T.eq(credentials.parse_iso8601("2015-08-30T12:36:00Z"), T0)
    T.eq(credentials.parse_iso8601("2015-08-30T12:36:00.123Z"), T0)
    T.eq(credentials.parse_iso8601("2015-08-30T14:36:00+02:00"), T0)
    T.eq(credentials.parse_iso8601("2015-08-30T07:36:00-0500"), T0)
    T.eq(credentials.parse_iso8601("2000-03-01T00:00:00Z"), 951868800)
    T.eq(credentials.parse_iso8601("1970-01-01T00:00:00Z"), 0)
    T.eq(credentials.parse_iso8601("2015-13-30T12:36:00Z"), nil)
    T.eq(credentials.parse_iso8601("yesterday"), nil)
    T.eq(credentials.parse_iso8601(nil), nil)
end)

-- Leave the fake C API as other test files expect to find it.
capi.env, capi.aws_files, capi.http_handler = nil, nil, nil
capi.persistent().aws = nil
