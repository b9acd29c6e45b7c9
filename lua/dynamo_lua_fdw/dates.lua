-- UTC calendar arithmetic without os.time/os.date (no time zone, no locale):
-- H. Hinnant's days_from_civil / civil_from_days on the proleptic Gregorian
-- calendar (year 0 is 1 BC), with floor division.
local floor = math.floor

local M = {}

-- Days since 1970-01-01 of year y, month m, day d.
function M.days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = m > 2 and m - 3 or m + 9
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

-- Year, month, day of a day count since 1970-01-01.
function M.civil_from_days(z)
    z = z + 719468
    local era = floor(z / 146097)
    local doe = z - era * 146097
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
    local y = yoe + era * 400
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
    local mp = floor((5 * doy + 2) / 153)
    local d = doy - floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    if m <= 2 then y = y + 1 end
    return y, m, d
end

-- Epoch seconds of a UTC date and time.
function M.civil_to_epoch(y, m, d, hh, mi, ss)
    return M.days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss
end

return M
