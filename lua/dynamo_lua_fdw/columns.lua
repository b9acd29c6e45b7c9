-- Typed columns: DynamoDB AttributeValues <-> the text of PostgreSQL's
-- input and output functions, and the column definitions IMPORT FOREIGN
-- SCHEMA writes.
--
--   columns.decoder(col)  -> decode(av, where): text for the column type's
--                            input function, or nil for SQL NULL
--   columns.encoder(col)  -> encode(text): AttributeValue, or nil to remove
--                            the attribute (text nil is SQL NULL)
--   columns.infer(items, key_schema, opts) -> column definitions
--   columns.create_table_sql(...)          -> CREATE FOREIGN TABLE text
--
-- col is { name=, attnum=, type=<format_type_be() text>, notnull=,
-- options = { attribute=, raw_item=, format= } }.  Decoders run once per
-- value of a scan, so everything that depends only on the column is decided
-- when the closure is made.  Numbers stay text all the way: the input
-- function of the column type checks the range (int4in raises 22003).
local json = require "dynamo_lua_fdw.json"
local types = require "dynamo_lua_fdw.types"
local errors = require "dynamo_lua_fdw.errors"
local dates = require "dynamo_lua_fdw.dates"
local capi = require "dynamo_lua_fdw.capi"

local byte, char, sub, find, match, gsub, format, lower, rep =
    string.byte, string.char, string.sub, string.find, string.match, string.gsub,
    string.format, string.lower, string.rep
local concat, sort = table.concat, table.sort
local type, pairs, ipairs, next, tonumber, tostring, getmetatable =
    type, pairs, ipairs, next, tonumber, tostring, getmetatable
local floor = math.floor
local item_to_json, check_number = types.item_to_json, types.check_number
local null, array_mt, number_mt = json.null, json.array_mt, json.number_mt

local M = {}

---------------------------------------------------------------------------
-- column options
---------------------------------------------------------------------------

local function options(col)
    return col.options or {}
end

function M.attribute_name(col)
    local a = options(col).attribute
    if a ~= nil and a ~= "" then return a end
    return col.name
end

-- The values defGetBoolean() accepts as true (the validator has refused the rest).
local TRUE_WORDS = { ["true"] = true, on = true, ["1"] = true, yes = true }

function M.is_raw_item(col)
    local v = options(col).raw_item
    if v == true then return true end
    return type(v) == "string" and TRUE_WORDS[lower(v)] == true
end

---------------------------------------------------------------------------
-- column kinds
---------------------------------------------------------------------------

local KIND = {
    text = "string", ["character varying"] = "string", uuid = "string",
    numeric = "number", integer = "number", bigint = "number", smallint = "number",
    real = "number", ["double precision"] = "number",
    boolean = "boolean",
    bytea = "bytea",
    ["text[]"] = "sset", ["character varying[]"] = "sset",
    ["numeric[]"] = "nset", ["integer[]"] = "nset", ["bigint[]"] = "nset", ["smallint[]"] = "nset",
    ["real[]"] = "nset", ["double precision[]"] = "nset",
    ["bytea[]"] = "bset",
    json = "json", jsonb = "json",
    ["timestamp with time zone"] = "timestamptz",
    ["timestamp without time zone"] = "timestamp",
    date = "date",
}

local TIME_KINDS = { timestamptz = true, timestamp = true, date = true }

-- The DynamoDB type each kind reads, for messages: the tag, "a string", what the column reads.
local EXPECT = {
    string = { "S", "a string", "DynamoDB strings (S)" },
    other = { "S", "a string", "DynamoDB strings (S)" },
    number = { "N", "a number", "DynamoDB numbers (N)" },
    boolean = { "BOOL", "a boolean", "DynamoDB booleans (BOOL)" },
    bytea = { "B", "binary", "DynamoDB binary values (B)" },
    sset = { "SS", "a string set", "DynamoDB string sets (SS) and lists (L) of strings" },
    nset = { "NS", "a number set", "DynamoDB number sets (NS) and lists (L) of numbers" },
    bset = { "BS", "a binary set", "DynamoDB binary sets (BS) and lists (L) of binary values" },
    time_iso = { "S", "a string", "DynamoDB strings (S) of ISO 8601 text" },
    time_epoch = { "N", "a number", "DynamoDB numbers (N) of seconds since 1970-01-01 00:00:00 UTC" },
    time_epoch_ms = { "N", "a number", "DynamoDB numbers (N) of milliseconds since 1970-01-01 00:00:00 UTC" },
}

local TAG_NAME = {
    S = "a string", N = "a number", B = "binary", BOOL = "a boolean", NULL = "null",
    M = "a map", L = "a list", SS = "a string set", NS = "a number set", BS = "a binary set",
}

local EPOCH_SCALE = { epoch = 0, epoch_ms = 3 }

-- What decoders and encoders need to know about a column, decided once.
local function describe(col)
    local ty = gsub(col.type or "text", "%b()", "") -- a typmod, should one slip through
    local kind = KIND[ty] or "other"
    local fmt = options(col).format
    if fmt == "" then fmt = nil end
    local scale
    if fmt ~= nil then
        scale = EPOCH_SCALE[fmt]
        if not TIME_KINDS[kind] or scale == nil then
            errors.raise {
                sqlstate = "HV024",
                message = format('invalid value for option "format" of column "%s": "%s"',
                    tostring(col.name), tostring(fmt)),
                detail = TIME_KINDS[kind]
                    and "Valid formats are epoch (seconds) and epoch_ms (milliseconds)."
                    or format("Column \"%s\" has type %s; the option applies to date and timestamp columns.",
                        tostring(col.name), ty),
                hint = "Leave the option out to store ISO 8601 text.",
            }
        end
    end
    local expect = EXPECT[kind]
    if TIME_KINDS[kind] then
        expect = EXPECT[fmt == nil and "time_iso" or ("time_" .. fmt)]
    end
    return {
        column = tostring(col.name), attribute = tostring(M.attribute_name(col)), type = ty,
        kind = kind, scale = scale, expect = expect,
    }
end

---------------------------------------------------------------------------
-- errors
---------------------------------------------------------------------------

local function of_item(where)
    if where == nil or where == "" then return "of an item" end
    return "of item " .. where
end

local function av_tag(av)
    if type(av) ~= "table" then return type(av) end
    return (next(av))
end

local function wrong_type(c, av, where)
    local tag = av_tag(av)
    errors.raise {
        sqlstate = "22P02",
        message = format('DynamoDB attribute "%s" %s is %s, not %s', c.attribute, of_item(where),
            TAG_NAME[tag] or ('of type "' .. tostring(tag) .. '"'), c.expect[2]),
        detail = format('Column "%s" has type %s, which reads %s.', c.column, c.type, c.expect[3]),
        hint = "Declare the column as jsonb to read values of any DynamoDB type.",
    }
end

local function wrong_element(c, i, av, want, where)
    local tag = av_tag(av)
    errors.raise {
        sqlstate = "22P02",
        message = format('element %d of DynamoDB list attribute "%s" %s is %s, not %s', i, c.attribute,
            of_item(where), TAG_NAME[tag] or ('of type "' .. tostring(tag) .. '"'), want),
        detail = format('Column "%s" has type %s, which reads %s.', c.column, c.type, c.expect[3]),
        hint = "Declare the column as jsonb to read values of any DynamoDB type.",
    }
end

local function nul_error(c, where)
    errors.raise {
        sqlstate = "22021",
        message = format('DynamoDB attribute "%s" %s contains a NUL character', c.attribute, of_item(where)),
        detail = format('Column "%s" has type %s, and PostgreSQL text cannot store the character U+0000.',
            c.column, c.type),
        hint = "Declare the column as json to read the value with the character escaped as \\u0000.",
    }
end

local function bad_base64(c, where, err)
    errors.raise {
        sqlstate = "22P02",
        message = format('DynamoDB attribute "%s" %s is not valid base64', c.attribute, of_item(where)),
        detail = "The binary value could not be decoded: " .. tostring(err) .. ".",
    }
end

-- Shortens a value quoted in a message.
local function shown(s)
    if #s > 64 then s = sub(s, 1, 61) .. "..." end
    return s
end

local function bad_value(sqlstate, message, detail, hint)
    errors.raise { sqlstate = sqlstate, message = message, detail = detail, hint = hint }
end

---------------------------------------------------------------------------
-- numbers
---------------------------------------------------------------------------

local NOT_FINITE = {
    nan = true, infinity = true, ["+infinity"] = true, ["-infinity"] = true, inf = true,
    ["+inf"] = true, ["-inf"] = true,
}

-- Number text from an output function (numeric, float, integer, jsonb) -> N text.
local function number_out(c, text)
    if NOT_FINITE[lower(text)] then
        bad_value("22023", format('value "%s" of column "%s" cannot be stored as a DynamoDB number',
                text, c.column),
            "DynamoDB numbers are finite; NaN and infinite values have no representation.",
            "Store NULL instead, or keep such values in a text column.")
    end
    local ok, detail = check_number(text)
    if not ok then
        local mant, exp = match(text, "^[+-]?([%d]*%.?[%d]*)(.*)$")
        local syntax = mant and find(mant, "%d") and (exp == "" or find(exp, "^[eE][+-]?%d+$"))
        if syntax then
            bad_value("22003", format('value "%s" of column "%s" is out of range for a DynamoDB number',
                shown(text), c.column), detail)
        end
        bad_value("22P02", format('invalid input syntax for a DynamoDB number: "%s"', shown(text)),
            format('Column "%s" has type %s. %s', c.column, c.type, detail))
    end
    -- DynamoDB has no negative zero: "-0", "-0.0", "-0e5" are stored as zero
    if byte(text, 1) == 45 and not find(match(text, "^-([%d%.]*)"), "[1-9]") then
        text = sub(text, 2)
    end
    return text
end

-- A key that is equal for equal numbers ("1", "1.0", "10E-1"), for set duplicates.
local function number_key(text)
    local sign, int, frac, exp = match(text, "^([+-]?)(%d*)%.?(%d*)(.*)$")
    local digits = int .. frac
    local lead = match(digits, "^0*()")
    if lead > #digits then return "0" end
    local last = find(digits, "0*$") - 1
    local e = (exp ~= "" and tonumber(sub(exp, 2)) or 0) + #int - lead
    return (sign == "-" and "-" or "") .. sub(digits, lead, last) .. "e" .. e
end

---------------------------------------------------------------------------
-- bytea
---------------------------------------------------------------------------

local HEX_BYTE = {}
for i = 0, 255 do HEX_BYTE[format("%02x", i)] = char(i) end

-- bytea output text ("\x0102", or the escape format) -> raw bytes, or nil.
local function bytea_bytes(text)
    if byte(text, 1) == 92 and byte(text, 2) == 120 then -- "\x"
        local hex = sub(text, 3)
        if #hex % 2 ~= 0 or find(hex, "[^%x]") then return nil end
        return (gsub(lower(hex), "..", HEX_BYTE))
    end
    -- escape format: "\\" is a backslash, "\ooo" an octal byte
    if not find(text, "\\", 1, true) then return text end
    local out, n, i = {}, 0, 1
    while true do
        local j = find(text, "\\", i, true)
        if not j then
            n = n + 1
            out[n] = sub(text, i)
            break
        end
        n = n + 1
        out[n] = sub(text, i, j - 1)
        if byte(text, j + 1) == 92 then
            n = n + 1
            out[n] = "\\"
            i = j + 2
        else
            local o = match(text, "^[0-3][0-7][0-7]", j + 1)
            if not o then return nil end
            n = n + 1
            out[n] = char(tonumber(o, 8))
            i = j + 4
        end
    end
    return concat(out, "", 1, n)
end

local function bytea_av_text(c, text)
    local raw = bytea_bytes(text)
    if not raw then
        bad_value("22P02", format('invalid bytea text for column "%s": "%s"', c.column, shown(text)),
            "The value is neither hex format (\\x...) nor escape format.")
    end
    return capi.base64_encode(raw)
end

---------------------------------------------------------------------------
-- PostgreSQL array literals
---------------------------------------------------------------------------

-- One element in double quotes, backslashes and quotes escaped.
local function quote_element(s)
    if find(s, '["\\]') then s = gsub(s, '["\\]', "\\%0") end
    return '"' .. s .. '"'
end

local function malformed_array(c, text, detail)
    bad_value("22P02", format('malformed array literal for column "%s": "%s"', c.column, shown(text)), detail)
end

local function skip_ws(s, i)
    local _, e = find(s, "^%s*", i)
    return e + 1
end

-- A one-dimensional array literal -> list of element texts, with null
-- elements as json.null.  Returns the list and its length.
local function parse_array(c, s)
    local i = 1
    if byte(s, 1) == 91 then -- "[1:3]=" when the lower bound is not 1
        local e = find(s, "=", 1, true)
        if not e or not find(sub(s, 1, e - 1), "^%[%-?%d+:%-?%d+%]%s*$") then
            if e and find(sub(s, 1, e - 1), "^%[%-?%d+:%-?%d+%]%[") then
                malformed_array(c, s, "DynamoDB sets are one-dimensional.")
            end
            malformed_array(c, s, "Dimension decoration is malformed.")
        end
        i = e + 1
    end
    i = skip_ws(s, i)
    if byte(s, i) ~= 123 then malformed_array(c, s, 'Array value must start with "{".') end
    i = skip_ws(s, i + 1)
    local elems, n = {}, 0
    if byte(s, i) == 125 then
        i = i + 1
    else
        while true do
            local ch = byte(s, i)
            local elem
            if ch == 123 then
                malformed_array(c, s, "DynamoDB sets are one-dimensional.")
            elseif ch == 34 then
                local buf, nb, j = {}, 0, i + 1
                while true do
                    local k = find(s, '["\\]', j)
                    if not k then malformed_array(c, s, "Unexpected end of input.") end
                    nb = nb + 1
                    buf[nb] = sub(s, j, k - 1)
                    if byte(s, k) == 34 then
                        i = k + 1
                        break
                    end
                    if k == #s then malformed_array(c, s, "Unexpected end of input.") end
                    nb = nb + 1
                    buf[nb] = sub(s, k + 1, k + 1)
                    j = k + 2
                end
                elem = concat(buf, "", 1, nb)
            else
                local k = find(s, "[,}]", i)
                if not k then malformed_array(c, s, "Unexpected end of input.") end
                local raw = match(sub(s, i, k - 1), "^(.-)%s*$")
                if raw == "" then malformed_array(c, s, "Unexpected \"" .. sub(s, k, k) .. "\" character.") end
                if lower(raw) == "null" then
                    elem = null
                else
                    elem = find(raw, "\\", 1, true) and gsub(raw, "\\(.)", "%1") or raw
                end
                i = k
            end
            n = n + 1
            elems[n] = elem
            i = skip_ws(s, i)
            ch = byte(s, i)
            if ch == 125 then
                i = i + 1
                break
            end
            if ch ~= 44 then malformed_array(c, s, 'Expected "," or "}".') end
            i = skip_ws(s, i + 1)
        end
    end
    if skip_ws(s, i) <= #s then malformed_array(c, s, "Junk after closing right brace.") end
    return elems, n
end

---------------------------------------------------------------------------
-- epoch time
---------------------------------------------------------------------------

local days_from_civil, civil_from_days = dates.days_from_civil, dates.civil_from_days

local function epoch_range_error(c, text, where)
    errors.raise {
        sqlstate = "22008",
        message = format('DynamoDB attribute "%s" %s is out of range for an epoch time: "%s"', c.attribute,
            of_item(where), shown(text)),
        detail = format('Column "%s" has type %s.', c.column, c.type),
    }
end

-- N text of epoch seconds (scale 0) or milliseconds (scale 3) -> whole
-- seconds (floor) and microseconds 0..999999, rounded half away from zero
-- from the exact decimal digits.
local function epoch_parts(c, text, where, scale)
    local sign, int, frac, exp = match(text, "^([+-]?)(%d*)%.?(%d*)(.*)$")
    if not sign or (int == "" and frac == "") or (exp ~= "" and not find(exp, "^[eE][+-]?%d+$")) then
        errors.raise {
            sqlstate = "22P02",
            message = format('DynamoDB attribute "%s" %s is not a valid number: "%s"', c.attribute,
                of_item(where), shown(text)),
        }
    end
    local digits = int .. frac
    local e = tonumber(exp == "" and "0" or sub(exp, 2))
    if not e or e > 1e6 or e < -1e6 then epoch_range_error(c, text, where) end
    local pos = #int + e - scale -- digits before the decimal point
    local lead = match(digits, "^0*()")
    digits = sub(digits, lead)
    pos = pos - (lead - 1)
    if digits == "" or pos < -7 then return 0, 0 end -- zero, or less than half a microsecond
    if pos > 15 then epoch_range_error(c, text, where) end
    local ipart, fpart
    if pos <= 0 then
        ipart, fpart = "0", rep("0", -pos) .. digits
    elseif pos >= #digits then
        ipart, fpart = digits .. rep("0", pos - #digits), ""
    else
        ipart, fpart = sub(digits, 1, pos), sub(digits, pos + 1)
    end
    local sec = tonumber(ipart)
    local us = tonumber(sub(fpart .. "000000", 1, 6))
    local r = byte(fpart, 7)
    if r and r >= 53 then -- '5': round half away from zero
        us = us + 1
        if us == 1000000 then sec, us = sec + 1, 0 end
    end
    if sign == "-" then
        if us > 0 then
            sec, us = -sec - 1, 1000000 - us
        else
            sec = 0 - sec -- not -0
        end
    end
    return sec, us
end

local function date_text(days)
    local y, m, d = civil_from_days(days)
    if y <= 0 then return format("%04d-%02d-%02d", 1 - y, m, d), true end
    return format("%04d-%02d-%02d", y, m, d), false
end

-- Epoch N text -> input text for date, timestamp or timestamptz.
local function epoch_to_text(c, text, where)
    local sec, us = epoch_parts(c, text, where, c.scale)
    local days = floor(sec / 86400)
    local date, bc = date_text(days)
    if c.kind == "date" then return bc and date .. " BC" or date end
    local s = sec - days * 86400
    local out = format("%s %02d:%02d:%02d", date, floor(s / 3600), floor(s / 60) % 60, s % 60)
    if us > 0 then out = out .. "." .. gsub(format("%06d", us), "0+$", "") end
    if c.kind == "timestamptz" then out = out .. "+00" end
    if bc then out = out .. " BC" end
    return out
end

local function bad_datetime(c, text)
    bad_value("22007", format('cannot convert value "%s" of column "%s" to an epoch time', shown(text), c.column),
        "The value is not in PostgreSQL's ISO output format.",
        "Epoch columns expect DateStyle ISO output, such as 2024-01-02 03:04:05+00.")
end

-- ISO output text of date, timestamp or timestamptz -> N text of epoch
-- seconds (or milliseconds).  A timestamp without time zone counts as UTC.
local function text_to_epoch(c, text)
    local y, mo, d, rest = match(text, "^(%d+)%-(%d%d)%-(%d%d)(.*)$")
    if not y then
        if text == "infinity" or text == "-infinity" then
            bad_value("22008", format('value "%s" of column "%s" cannot be stored as an epoch time', text, c.column),
                "Epoch times are finite numbers.", "Store NULL instead.")
        end
        bad_datetime(c, text)
    end
    local secs, frac = 0, ""
    local hh, mi, ss, f, after = match(rest, "^[ T](%d%d):(%d%d):(%d%d)%.?(%d*)(.*)$")
    if hh then
        secs = tonumber(hh) * 3600 + tonumber(mi) * 60 + tonumber(ss)
        frac, rest = f, after
    end
    local sign, oh, orest = match(rest, "^([+-])(%d%d)(.*)$")
    if sign then
        local off = tonumber(oh) * 3600
        local om, ore = match(orest, "^:(%d%d)(.*)$")
        if om then
            off = off + tonumber(om) * 60
            orest = ore
            local os_, ore2 = match(orest, "^:(%d%d)(.*)$")
            if os_ then off, orest = off + tonumber(os_), ore2 end
        end
        secs = sign == "+" and secs - off or secs + off
        rest = orest
    end
    local year = tonumber(y)
    if rest == " BC" then
        year = 1 - year
        rest = ""
    end
    if rest ~= "" then bad_datetime(c, text) end
    local sec = days_from_civil(year, tonumber(mo), tonumber(d)) * 86400 + secs
    frac = sub(gsub(frac, "0+$", ""), 1, 6) -- output functions give at most 6 digits
    local us = frac == "" and 0 or tonumber(sub(frac .. "000000", 1, 6))
    -- sign and magnitude of sec + us / 1e6
    local neg = sec < 0
    local mag_s, mag_us = sec, us
    if neg then
        if us > 0 then mag_s, mag_us = -sec - 1, 1000000 - us else mag_s = -sec end
    end
    local ipart, fpart = format("%.0f", mag_s), format("%06d", mag_us)
    if c.scale == 3 then
        ipart, fpart = ipart .. sub(fpart, 1, 3), sub(fpart, 4)
        ipart = match(ipart, "^0*(%d-%d)$")
    end
    fpart = gsub(fpart, "0+$", "")
    local out = ipart
    if fpart ~= "" then out = out .. "." .. fpart end
    if neg and out ~= "0" then out = "-" .. out end
    return out
end

-- Output text of date/timestamp/timestamptz -> ISO 8601 string: the space
-- becomes "T" and an "+HH" offset "+HH:MM"; anything else is kept as is.
local function iso_text(text)
    local date, time, rest = match(text, "^(%d+%-%d%d%-%d%d) (%d%d:%d%d:%d%d[%.%d]*)(.*)$")
    if not date then return text end
    local off, tail = match(rest, "^([+-]%d%d)(.*)$")
    if off and byte(tail, 1) ~= 58 then rest = off .. ":00" .. tail end
    return date .. "T" .. time .. rest
end

---------------------------------------------------------------------------
-- JSON value -> AttributeValue
---------------------------------------------------------------------------

local json_av

json_av = function(c, v)
    local tv = type(v)
    if tv == "string" then return { S = v } end
    if tv == "boolean" then return { BOOL = v } end
    if v == null then return { NULL = true } end
    local mt = getmetatable(v)
    if mt == number_mt then return { N = number_out(c, v[1]) } end
    if mt == array_mt then
        local l = json.array()
        for i = 1, #v do l[i] = json_av(c, v[i]) end
        return { L = l }
    end
    local m = {}
    for k, x in pairs(v) do m[k] = json_av(c, x) end
    return { M = m }
end

-- One JSON value (any type) -> AttributeValue; numbers keep their digits,
-- [] stays an empty list.
function M.json_to_av(text, col)
    local c = col and describe(col) or { column = "?", type = "jsonb" }
    return json_av(c, json.decode(text))
end

---------------------------------------------------------------------------
-- decoders
---------------------------------------------------------------------------

local ELEMENT = {
    sset = { "S", "a string", "SS" },
    nset = { "N", "a number", "NS" },
    bset = { "B", "binary", "BS" },
}

local function bytea_text(c, b64, where)
    local raw, err = capi.base64_decode(b64)
    if not raw then bad_base64(c, where, err) end
    return "\\x" .. capi.hex(raw)
end

local function set_decoder(c)
    local e = ELEMENT[c.kind]
    local etag, ename, stag = e[1], e[2], e[3]
    local binary = c.kind == "bset"
    local check_nul = c.kind == "sset"
    return function(av, where)
        if av == nil then return nil end
        local list = av[stag]
        local from_list = false
        if list == nil then
            list = av.L
            if list == nil then
                if av.NULL ~= nil then return nil end
                wrong_type(c, av, where)
            end
            from_list = true
        end
        local n = #list
        if n == 0 then return "{}" end
        local parts = {}
        for i = 1, n do
            local v = list[i]
            if from_list then
                local x = type(v) == "table" and v[etag]
                if x == nil or x == false then
                    if type(v) == "table" and v.NULL ~= nil then
                        x = nil
                    else
                        wrong_element(c, i, v, ename, where)
                    end
                end
                v = x
            end
            if v == nil then
                parts[i] = "NULL"
            else
                if binary then
                    v = bytea_text(c, v, where)
                elseif check_nul and find(v, "\0", 1, true) then
                    nul_error(c, where)
                end
                parts[i] = quote_element(v)
            end
        end
        return "{" .. concat(parts, ",", 1, n) .. "}"
    end
end

function M.decoder(col)
    if M.is_raw_item(col) then
        return function(item)
            if item == nil then return nil end
            return item_to_json(item)
        end
    end
    local c = describe(col)
    local kind = c.kind
    if kind == "string" or kind == "other" or ((kind == "timestamptz" or kind == "timestamp"
            or kind == "date") and c.scale == nil) then
        return function(av, where)
            if av == nil then return nil end
            local v = av.S
            if v ~= nil then
                if find(v, "\0", 1, true) then nul_error(c, where) end
                return v
            end
            if av.NULL ~= nil then return nil end
            wrong_type(c, av, where)
        end
    elseif kind == "number" then
        return function(av, where)
            if av == nil then return nil end
            local v = av.N
            if v ~= nil then return v end
            if av.NULL ~= nil then return nil end
            wrong_type(c, av, where)
        end
    elseif TIME_KINDS[kind] then -- epoch
        return function(av, where)
            if av == nil then return nil end
            local v = av.N
            if v ~= nil then return epoch_to_text(c, v, where) end
            if av.NULL ~= nil then return nil end
            wrong_type(c, av, where)
        end
    elseif kind == "boolean" then
        return function(av, where)
            if av == nil then return nil end
            local v = av.BOOL
            if v ~= nil then return v and "true" or "false" end
            if av.NULL ~= nil then return nil end
            wrong_type(c, av, where)
        end
    elseif kind == "bytea" then
        return function(av, where)
            if av == nil then return nil end
            local v = av.B
            if v ~= nil then return bytea_text(c, v, where) end
            if av.NULL ~= nil then return nil end
            wrong_type(c, av, where)
        end
    elseif kind == "json" then
        -- item_to_json of a one-attribute item: '{"":' .. value .. '}'
        local wrap = {}
        return function(av)
            if av == nil then return nil end
            wrap[""] = av
            local s = item_to_json(wrap)
            wrap[""] = nil
            return sub(s, 5, -2)
        end
    end
    return set_decoder(c) -- sset, nset, bset
end

---------------------------------------------------------------------------
-- encoders
---------------------------------------------------------------------------

local BOOL_TEXT = { t = true, f = false, ["true"] = true, ["false"] = false }

local function set_encoder(c)
    local stag = ELEMENT[c.kind][3]
    local kind = c.kind
    return function(text)
        if text == nil then return nil end
        local elems, n = parse_array(c, text)
        if n == 0 then
            errors.raise {
                sqlstate = "22023",
                message = format('DynamoDB does not allow empty sets (column "%s")', c.column),
                detail = format('Column "%s" has type %s, stored as a DynamoDB %s.', c.column, c.type, stag),
                hint = "Set the column to NULL to remove the attribute.",
            }
        end
        local out, seen = json.array(), {}
        for i = 1, n do
            local e = elems[i]
            if e == null then
                errors.raise {
                    sqlstate = "22004",
                    message = format('DynamoDB sets cannot contain NULL (column "%s")', c.column),
                    detail = format("Element %d of the array is NULL.", i),
                    hint = "Remove the NULL elements from the array.",
                }
            end
            local key
            if kind == "nset" then
                e = number_out(c, e)
                key = number_key(e)
            elseif kind == "bset" then
                e = bytea_av_text(c, e)
                key = e
            else
                key = e
            end
            if seen[key] then
                errors.raise {
                    sqlstate = "22023",
                    message = format('DynamoDB sets cannot contain duplicate elements (column "%s")', c.column),
                    detail = format('Elements %d and %d are equal: "%s".', seen[key], i, shown(elems[i])),
                    hint = "Remove the duplicates, for example with SELECT array_agg(DISTINCT ...).",
                }
            end
            seen[key] = i
            out[i] = e
        end
        return { [stag] = out }
    end
end

function M.encoder(col)
    if M.is_raw_item(col) then
        return function(text)
            if text == nil then return nil end
            return types.json_to_item(text)
        end
    end
    local c = describe(col)
    local kind = c.kind
    if kind == "string" or kind == "other" then
        return function(text)
            if text == nil then return nil end
            return { S = text }
        end
    elseif kind == "number" then
        return function(text)
            if text == nil then return nil end
            return { N = number_out(c, text) }
        end
    elseif TIME_KINDS[kind] then
        if c.scale then
            return function(text)
                if text == nil then return nil end
                return { N = text_to_epoch(c, text) }
            end
        end
        return function(text)
            if text == nil then return nil end
            return { S = iso_text(text) }
        end
    elseif kind == "boolean" then
        return function(text)
            if text == nil then return nil end
            local v = BOOL_TEXT[text]
            if v == nil then
                bad_value("22P02", format('invalid input syntax for type boolean: "%s"', shown(text)),
                    'Boolean output text is "t" or "f".')
            end
            return { BOOL = v }
        end
    elseif kind == "bytea" then
        return function(text)
            if text == nil then return nil end
            return { B = bytea_av_text(c, text) }
        end
    elseif kind == "json" then
        return function(text)
            if text == nil then return nil end
            return json_av(c, json.decode(text))
        end
    end
    return set_encoder(c) -- sset, nset, bset
end

---------------------------------------------------------------------------
-- SQL quoting
---------------------------------------------------------------------------

local function no_nul(s, what)
    if type(s) ~= "string" then
        errors.raise { sqlstate = "22023", message = what .. " must be text" }
    end
    if find(s, "\0", 1, true) then
        errors.raise {
            sqlstate = "22021",
            message = what .. " contains a NUL character",
            detail = "SQL text cannot contain the character U+0000.",
        }
    end
end

-- Always double-quoted: correct for keywords, upper case and any character.
function M.quote_ident(s)
    no_nul(s, "identifier")
    return '"' .. gsub(s, '"', '""') .. '"'
end

-- As PostgreSQL's quote_literal(): E'' form when there is a backslash, so the
-- text is right whatever standard_conforming_strings says.
function M.quote_literal(s)
    no_nul(s, "literal")
    local q = gsub(s, "'", "''")
    if find(q, "\\", 1, true) then return "E'" .. gsub(q, "\\", "\\\\") .. "'" end
    return "'" .. q .. "'"
end

---------------------------------------------------------------------------
-- IMPORT FOREIGN SCHEMA
---------------------------------------------------------------------------

local NAMEDATALEN_1 = 63

local INFER_TYPE = {
    S = "text", N = "numeric", BOOL = "boolean", B = "bytea",
    SS = "text[]", NS = "numeric[]", BS = "bytea[]", M = "jsonb", L = "jsonb",
}
local KEY_TYPE = { S = "text", N = "numeric", B = "bytea" }

local function plain_name(name)
    return #name <= NAMEDATALEN_1 and find(name, "^[a-z_][a-z0-9_]*$") ~= nil
end

-- Lower case, every other character (a UTF-8 sequence counts as one) "_",
-- "_" before a leading digit, at most 63 bytes.
local function derived_name(name)
    local s = lower(name)
    s = gsub(s, "[\192-\255][\128-\191]*", "_")
    s = gsub(s, "[^a-z0-9_]", "_")
    if find(s, "^%d") then s = "_" .. s end
    return sub(s, 1, NAMEDATALEN_1)
end

local function unique_name(base, used)
    local name, k = base, 1
    while used[name] do
        k = k + 1
        local suffix = "_" .. k
        name = sub(base, 1, NAMEDATALEN_1 - #suffix) .. suffix
    end
    used[name] = true
    return name
end

-- Column names for a list of attribute names: plain names first (so "a" keeps
-- "a" even when "A" sorts before it), then the derived ones, in list order.
local function assign_names(attrs, used)
    local out = {}
    for i, a in ipairs(attrs) do
        if plain_name(a) and not used[a] then
            used[a] = true
            out[i] = a
        end
    end
    for i, a in ipairs(attrs) do
        if not out[i] then
            out[i] = unique_name(plain_name(a) and a or derived_name(a), used)
        end
    end
    return out
end

-- items: sampled items (attribute name -> AttributeValue); key_schema:
-- { partition_key = {name=, type=}, sort_key = ... }; opts.raw_item_column:
-- the jsonb column holding the whole item ("_item" by default, "" for none).
-- Returns { {column=, attribute=, type=, not_null=, raw_item=}, ... }: keys,
-- other attributes by name, then the raw item column.  Attribute names with
-- a NUL character cannot be written in SQL and are left to the raw item column.
function M.infer(items, key_schema, opts)
    opts = opts or {}
    local raw = opts.raw_item_column
    if raw == nil then raw = "_item" end
    local used = {}
    if raw ~= "" then used[raw] = true end

    local keys = {}
    for _, k in ipairs({ key_schema.partition_key, key_schema.sort_key or false }) do
        if k then
            no_nul(k.name, "key attribute name")
            keys[#keys + 1] = k
        end
    end
    local is_key = {}
    for _, k in ipairs(keys) do is_key[k.name] = true end

    local seen, names = {}, {}
    for _, item in ipairs(items or {}) do
        for name, av in pairs(item) do
            if not is_key[name] and not find(name, "\0", 1, true) then
                local tags = seen[name]
                if not tags then
                    tags = {}
                    seen[name] = tags
                    names[#names + 1] = name
                end
                tags[av_tag(av)] = true
            end
        end
    end
    sort(names)

    local defs = {}
    local key_names = {}
    for i, k in ipairs(keys) do key_names[i] = k.name end
    local key_cols = assign_names(key_names, used)
    for i, k in ipairs(keys) do
        defs[#defs + 1] = { column = key_cols[i], attribute = k.name,
            type = KEY_TYPE[k.type] or "text", not_null = true }
    end
    local cols = assign_names(names, used)
    for i, name in ipairs(names) do
        local ty, count = nil, 0
        for tag in pairs(seen[name]) do
            if tag ~= "NULL" then
                count = count + 1
                ty = INFER_TYPE[tag] or "jsonb"
            end
        end
        if count ~= 1 then ty = "jsonb" end
        defs[#defs + 1] = { column = cols[i], attribute = name, type = ty, not_null = false }
    end
    if raw ~= "" then
        defs[#defs + 1] = { column = raw, type = "jsonb", not_null = false, raw_item = true }
    end
    return defs
end

-- CREATE FOREIGN TABLE for column definitions as infer() returns them.
-- opts.import_not_null = false leaves out NOT NULL; opts.table_options is a
-- list of {name, value} pairs added after the table option.
function M.create_table_sql(local_schema, table_name, server_name, dynamodb_table, defs, opts)
    opts = opts or {}
    local cols = {}
    for i, d in ipairs(defs) do
        local ty = d.type
        if type(ty) ~= "string" or not find(ty, "^[a-z][a-z0-9 _]*$") and not find(ty, "^[a-z][a-z0-9 _]*%[%]$") then
            errors.raise {
                sqlstate = "22023",
                message = format('invalid type name for column "%s"', tostring(d.column)),
                detail = "The type name is \"" .. tostring(ty) .. "\".",
            }
        end
        local s = M.quote_ident(d.column) .. " " .. ty
        local o = {}
        if d.attribute ~= nil and d.attribute ~= d.column then
            o[#o + 1] = "attribute " .. M.quote_literal(d.attribute)
        end
        if d.raw_item then o[#o + 1] = "raw_item 'true'" end
        if d.format ~= nil then o[#o + 1] = "format " .. M.quote_literal(d.format) end
        -- the grammar puts column OPTIONS before the constraints
        if #o > 0 then s = s .. " OPTIONS (" .. concat(o, ", ") .. ")" end
        if d.not_null and opts.import_not_null ~= false then s = s .. " NOT NULL" end
        cols[i] = s
    end
    local topts = { '"table" ' .. M.quote_literal(dynamodb_table) }
    for _, o in ipairs(opts.table_options or {}) do
        topts[#topts + 1] = M.quote_ident(o[1] or o.name) .. " " .. M.quote_literal(o[2] or o.value)
    end
    local name = M.quote_ident(table_name)
    if local_schema ~= nil and local_schema ~= "" then name = M.quote_ident(local_schema) .. "." .. name end
    return "CREATE FOREIGN TABLE " .. name .. " (" .. concat(cols, ", ") .. ") SERVER "
        .. M.quote_ident(server_name) .. " OPTIONS (" .. concat(topts, ", ") .. ")"
end

return M
