-- Reading ahead: a prefetched next page, and a Scan in parallel segments.
local T = require "testlib"
local paging = require "dynamo_lua_fdw.paging"

-- A client whose requests stay in flight until finished; pages[segment] lists the pages.
local function fake(pages)
    local c = { started = {}, in_flight = 0, cancelled = 0 }
    function c:start(op, params)
        local copy = {}
        for k, v in pairs(params) do copy[k] = v end -- sent as it is now, like the JSON body
        self.started[#self.started + 1] = copy
        self.in_flight = self.in_flight + 1
        return { params = copy, id = #self.started }
    end
    function c:finish(p)
        self.in_flight = self.in_flight - 1
        local seg = pages[(p.params.Segment or 0) + 1]
        local i = p.params.ExclusiveStartKey and p.params.ExclusiveStartKey.n or 1
        local page = seg[i]
        return { Items = page, Count = #page, ScannedCount = #page,
                 LastEvaluatedKey = seg[i + 1] and { n = i + 1 } or nil }
    end
    function c:cancel() self.in_flight, self.cancelled = self.in_flight - 1, self.cancelled + 1 end
    return c
end

local function stats() return { pages = 0, items = 0, scanned = 0 } end

T.test("prefetch: the next page is requested before this one is handed over; close drops it", function()
    local c = fake({ { { { id = 1 } }, { { id = 2 } }, { { id = 3 } } } })
    local r = paging.reader(c, "Scan", { TableName = "t" }, true)
    local s = stats()
    T.eq(#r:next_page(s), 1)
    T.eq(c.in_flight, 1, "page 2 in flight")
    T.eq(c.started[2].ExclusiveStartKey, { n = 2 })
    T.eq(#r:next_page(s), 1)
    r:close()
    T.eq(c.in_flight, 0)
    T.eq(c.cancelled, 1)
    -- without prefetch nothing is sent ahead
    c = fake({ { { { id = 1 } }, { { id = 2 } } } })
    r = paging.reader(c, "Scan", { TableName = "t" }, false)
    r:next_page(stats())
    T.eq(c.in_flight, 0)
end)

T.test("segments: every segment in flight at once, each followed to its end; the rows of one Scan", function()
    local c = fake({ { { { id = 1 }, { id = 2 } }, { { id = 3 } } }, { {} , { { id = 4 } } }, { { { id = 5 } } } })
    local r = paging.segmented_reader(c, { TableName = "t", FilterExpression = "x" }, 3)
    T.eq(c.in_flight, 3)
    T.eq({ c.started[1].Segment, c.started[2].Segment, c.started[3].Segment, c.started[3].TotalSegments }, { 0, 1, 2, 3 })
    T.eq(c.started[2].FilterExpression, "x")
    local ids, s = {}, stats()
    while not r.done do
        for _, item in ipairs(r:next_page(s)) do ids[#ids + 1] = item.id end
    end
    table.sort(ids)
    T.eq(ids, { 1, 2, 3, 4, 5 })
    T.eq(s.pages, 5)
    T.eq(c.in_flight, 0)
end)

T.test("read ahead: segments from the option or the table size; none under a LIMIT", function()
    local rel = { table = {}, server = { options = {} } }
    T.eq({ paging.read_ahead(rel, 1000, nil) }, { true, 1 })
    T.eq({ paging.read_ahead(rel, 100 * 1024 * 1024, nil) }, { true, 3 })
    T.eq({ paging.read_ahead(rel, 10 * 1024 * 1024 * 1024, nil) }, { true, paging.DEFAULT_MAX_SEGMENTS })
    T.eq({ paging.read_ahead(rel, 10 * 1024 * 1024 * 1024, true) }, { false, 1 })
    rel.server.options.scan_segments = "4"
    T.eq({ paging.read_ahead(rel, 0, nil) }, { true, 4 })
    rel.table.scan_segments = "1000"
    T.eq({ paging.read_ahead(rel, 0, nil) }, { true, paging.MAX_SEGMENTS })
end)

T.test("prime: the first requests of several tasks in flight together; pages still come task by task", function()
    local c = fake({ { { { id = 1 } }, { { id = 2 } } } })
    local clients = {}
    local st = { tasks = { { n = 1 }, { n = 2 }, { skip = true }, { n = 3 } }, task_i = 0, pages = 0, items = 0, scanned = 0 }
    local function start(_, task)
        if task.skip then return nil end
        local f = fake({ { { { id = task.n * 10 + 1 } }, { { id = task.n * 10 + 2 } } } })
        clients[task.n] = f
        return paging.reader(f, "Scan", { TableName = "t" .. task.n }, true)
    end
    T.ok(paging.prime(st, start) ~= 0)
    T.eq({ clients[1].in_flight, clients[2].in_flight, clients[3].in_flight }, { 1, 1, 1 })
    local ids = {}
    while true do
        local items = paging.next_page(st, start)
        if not items then break end
        for _, item in ipairs(items) do ids[#ids + 1] = item.id end
    end
    T.eq(ids, { 11, 12, 21, 22, 31, 32 })
    T.eq({ clients[1].in_flight, clients[2].in_flight, clients[3].in_flight }, { 0, 0, 0 })
    -- closing before the end drops every primed request
    st = { tasks = { { n = 1 }, { n = 2 } }, task_i = 0, pages = 0, items = 0, scanned = 0 }
    paging.prime(st, start)
    paging.close(st)
    T.eq({ clients[1].in_flight, clients[2].in_flight }, { 0, 0 })
    T.eq(c.in_flight, 0)
end)

T.test("read-ahead budget: past it nothing is sent ahead, and a Scan starts one segment at a time", function()
    local capi = require "dynamo_lua_fdw.capi"
    local real = capi.http_in_flight
    capi.http_in_flight = function() return paging.READ_AHEAD_BUDGET end
    local ok, err = pcall(function()
        local c = fake({ { { { id = 1 } }, { { id = 2 } } } })
        local r = paging.reader(c, "Scan", { TableName = "t" }, true)
        T.eq(r:prime(), 0, "no eager request")
        r:next_page(stats())
        T.eq(c.in_flight, 0, "no prefetch")
        c = fake({ { { { id = 1 } } }, { { { id = 2 } } }, { { { id = 3 } } } })
        local seg = paging.segmented_reader(c, { TableName = "t" }, 3)
        T.eq(c.in_flight, 1, "one segment in flight")
        local ids = {}
        while not seg.done do
            for _, item in ipairs(seg:next_page(stats())) do ids[#ids + 1] = item.id end
        end
        table.sort(ids)
        T.eq(ids, { 1, 2, 3 }, "every segment read all the same")
    end)
    capi.http_in_flight = real
    if not ok then error(err, 0) end
end)
