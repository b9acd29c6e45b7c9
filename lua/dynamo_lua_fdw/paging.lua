-- Reading DynamoDB one page per call: GetItem, Query or Scan requests built
-- from a key schema, and the loop that walks a list of such tasks until a
-- page has rows.  A page that is empty but carries LastEvaluatedKey is
-- followed, so no row is skipped; each page is read once, so none repeats.
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local retry = require "dynamo_lua_fdw.aws.retry"

local M = {}

local Reader = {}
Reader.__index = Reader

-- The request for the keys given: both keys -> GetItem, partition key -> Query, none -> Scan.
-- schema = {partition_key = {name=}, sort_key = {name=} | nil}; pk_av/sk_av AttributeValues or nil.
function M.request(table_name, schema, pk_av, sk_av, consistent)
    local req = { TableName = table_name, ConsistentRead = consistent or nil }
    if pk_av and sk_av then
        req.Key = { [schema.partition_key.name] = pk_av, [schema.sort_key.name] = sk_av }
        return "GetItem", req
    elseif pk_av then
        req.KeyConditionExpression = "#pk = :pk"
        req.ExpressionAttributeNames = { ["#pk"] = schema.partition_key.name }
        req.ExpressionAttributeValues = { [":pk"] = pk_av }
        return "Query", req
    end
    return "Scan", req
end

-- One page of a GetItem, Query or Scan response, checked: its items, how many rows they stand
-- for (Select COUNT returns no items, only a Count) and the LastEvaluatedKey.  Counts pages,
-- items returned, items scanned and read capacity into stats.
local function page_of(op, request, resp, stats)
    stats.pages = stats.pages + 1
    if resp.ConsumedCapacity then
        stats.capacity = (stats.capacity or 0) + (tonumber(resp.ConsumedCapacity.CapacityUnits) or 0)
    end
    if op == "GetItem" then
        if resp.Item ~= nil and type(resp.Item) ~= "table" then errors.malformed("GetItem", "has an Item that is no object") end
        local items = resp.Item and { resp.Item } or {}
        stats.items, stats.scanned = stats.items + #items, stats.scanned + #items
        return items, #items, nil
    end
    local items = resp.Items or {}
    if type(items) ~= "table" or (resp.LastEvaluatedKey ~= nil and type(resp.LastEvaluatedKey) ~= "table") then
        errors.malformed(op, "has Items or LastEvaluatedKey of the wrong type")
    end
    for i = 1, #items do
        if type(items[i]) ~= "table" then errors.malformed(op, "has an item that is no object") end
    end
    stats.items = stats.items + (tonumber(resp.Count) or #items)
    stats.scanned = stats.scanned + (tonumber(resp.ScannedCount) or #items)
    local n = #items
    if request.Select == "COUNT" then
        n = tonumber(resp.Count)
        if not n or n < 0 or n % 1 ~= 0 then errors.malformed(op, "has no Count") end
    end
    return items, n, resp.LastEvaluatedKey
end

-- reader(client, op, request, prefetch): reads one page per next_page() call.  With prefetch,
-- the request for page k+1 is sent before page k is handed over, so DynamoDB works on it while
-- PostgreSQL consumes page k (not for a LIMIT, which may never want it).
function M.reader(client, op, request, prefetch)
    request.ReturnConsumedCapacity = "TOTAL"
    return setmetatable({ client = client, op = op, request = request, done = false,
        prefetch = prefetch and op ~= "GetItem" }, Reader)
end

-- Requests sent ahead of need (prefetch, segments, priming) stop at this many in flight in the
-- backend, so that the rest of the 64 the backend has stay for what must be sent.
M.READ_AHEAD_BUDGET = 48

local function may_read_ahead() return capi.http_in_flight() < M.READ_AHEAD_BUDGET end

function Reader:next_page(stats)
    local pending = self.pending or self.client:start(self.op, self.request)
    self.pending = nil
    local items, n, last = page_of(self.op, self.request, self.client:finish(pending), stats)
    self.request.ExclusiveStartKey = last
    self.done = last == nil
    if not self.done and self.prefetch and may_read_ahead() then
        self.pending = self.client:start(self.op, self.request)
    end
    return items, n
end

-- Sends the next page's request now, if it is not on its way and the budget allows; its
-- transfer id, or 0.
function Reader:prime()
    if not self.pending and may_read_ahead() then self.pending = self.client:start(self.op, self.request) end
    return self.pending and self.pending.id or 0
end

-- Drops a prefetched page nobody will read (a rescan, the end of a scan).
function Reader:close()
    if self.pending then self.client:cancel(self.pending) end
    self.pending = nil
end

-- A Scan in segments (Segment/TotalSegments), every segment's next page in flight at once;
-- pages come back in the order their requests were sent.  The rows are those of one Scan.
local Segmented = {}
Segmented.__index = Segmented

-- Segments start as the read-ahead budget allows (at least one); the others wait for a turn.
function M.segmented_reader(client, request, segments)
    local r = setmetatable({ client = client, queue = {}, waiting = {}, done = false }, Segmented)
    for i = 0, segments - 1 do
        local req = {}
        for k, v in pairs(request) do req[k] = v end
        req.Segment, req.TotalSegments, req.ReturnConsumedCapacity = i, segments, "TOTAL"
        r.waiting[#r.waiting + 1] = req
    end
    r:start_waiting()
    return r
end

function Segmented:start_waiting()
    while #self.waiting > 0 and (#self.queue == 0 or may_read_ahead()) do
        local req = table.remove(self.waiting, 1)
        self.queue[#self.queue + 1] = { request = req, pending = self.client:start("Scan", req) }
    end
end

function Segmented:next_page(stats)
    local seg = table.remove(self.queue, 1)
    local items, n, last = page_of("Scan", seg.request, self.client:finish(seg.pending), stats)
    if last then
        seg.request.ExclusiveStartKey = last
        seg.pending = self.client:start("Scan", seg.request)
        self.queue[#self.queue + 1] = seg
    end
    self:start_waiting()
    self.done = #self.queue == 0
    return items, n
end

function Segmented:prime() return self.queue[1].pending.id end

function Segmented:close()
    for _, seg in ipairs(self.queue) do self.client:cancel(seg.pending) end
    self.queue, self.waiting, self.done = {}, {}, true
end

-- How a Scan reads ahead: prefetch unless the query has a LIMIT, and in how many segments --
-- option scan_segments (table, then server; at most 32 requests in flight), else one segment
-- per 32 MB of table, up to 8.  Under a LIMIT: one segment, no prefetch.
M.SEGMENT_BYTES = 32 * 1024 * 1024
M.DEFAULT_MAX_SEGMENTS = 8
M.MAX_SEGMENTS = 32

-- read_ahead(rel, size_bytes, limited) -> prefetch, segments
function M.read_ahead(rel, size_bytes, limited)
    if limited then return false, 1 end
    local n = tonumber(rel.table.scan_segments or rel.server.options.scan_segments)
    if n and n >= 1 then return true, math.min(n, M.MAX_SEGMENTS) end
    return true, math.max(1, math.min(M.DEFAULT_MAX_SEGMENTS, math.floor((size_bytes or 0) / M.SEGMENT_BYTES)))
end

-- BatchGetItem over a list of keys: 100 keys a request; UnprocessedKeys go first into the
-- next request, after a backoff (DynamoDB returns them when it is short of capacity).
local BatchReader = {}
BatchReader.__index = BatchReader
M.MAX_BATCH_GET = 100

-- template: {ConsistentRead=, ProjectionExpression=, ExpressionAttributeNames=} for the table.
function M.batch_reader(client, table_name, keys, template)
    return setmetatable({ client = client, table = table_name, keys = keys, template = template,
        next_key = 1, unprocessed = {}, round = 0, done = #keys == 0 }, BatchReader)
end

function BatchReader:next_page(stats)
    local batch = {}
    for _, k in ipairs(self.unprocessed) do batch[#batch + 1] = k end
    self.unprocessed = {}
    if #batch > 0 then
        self.round = self.round + 1
        capi.sleep(retry.backoff_ms(self.round))
    end
    while #batch < M.MAX_BATCH_GET and self.next_key <= #self.keys do
        batch[#batch + 1] = self.keys[self.next_key]
        self.next_key = self.next_key + 1
    end
    local spec = { Keys = batch }
    for k, v in pairs(self.template) do spec[k] = v end
    local resp = self.client:call("BatchGetItem",
        { RequestItems = { [self.table] = spec }, ReturnConsumedCapacity = "TOTAL" })
    stats.pages = stats.pages + 1
    for _, c in ipairs(type(resp.ConsumedCapacity) == "table" and resp.ConsumedCapacity or {}) do
        stats.capacity = (stats.capacity or 0) + (tonumber(type(c) == "table" and c.CapacityUnits) or 0)
    end
    local responses = type(resp.Responses) == "table" and resp.Responses[self.table] or {}
    local left = type(resp.UnprocessedKeys) == "table" and resp.UnprocessedKeys[self.table]
    if type(responses) ~= "table" or (left ~= nil and (type(left) ~= "table" or type(left.Keys) ~= "table")) then
        errors.malformed("BatchGetItem", "has Responses or UnprocessedKeys of the wrong type")
    end
    for i = 1, #responses do
        if type(responses[i]) ~= "table" then errors.malformed("BatchGetItem", "has an item that is no object") end
    end
    if left and #left.Keys > 0 then
        if #left.Keys > #batch then errors.malformed("BatchGetItem", "has more UnprocessedKeys than keys asked for") end
        self.unprocessed = left.Keys
    else
        self.round = 0
    end
    stats.items, stats.scanned = stats.items + #responses, stats.scanned + #responses
    self.done = #self.unprocessed == 0 and self.next_key > #self.keys
    return responses, #responses
end

function BatchReader:close() end
function BatchReader:prime() return 0 end

-- Drops what the scan state's readers have in flight (before a rescan, at the end of a scan).
function M.close(st)
    if st.reader then st.reader:close() end
    for i = (st.task_i or 0) + 1, #(st.tasks or {}) do
        local r = st.tasks[i].reader
        if r then r:close() end
    end
    st.reader = nil
end

-- The reader of task i, begun at most once (start returns nil when nothing can match).
local function reader_of(st, start, i)
    local task = st.tasks[i]
    if not task.begun then task.begun, task.reader = true, start(st, task) end
    return task.reader
end

-- prime(st, start) -> the transfer id the next page waits for, or 0.  Sends the first request
-- of the next M.FAN_OUT tasks that can match (regions, tables, keys of an IN list), so that
-- they -- and the other scans of the query -- wait for DynamoDB together.
M.FAN_OUT = 8

function M.prime(st, start)
    local first = st.reader and not st.reader.done and st.reader or nil
    local primed = first and 1 or 0
    local i = st.task_i + 1
    while primed < M.FAN_OUT and st.tasks[i] and may_read_ahead() do
        local r = reader_of(st, start, i)
        if r and not r.done then
            first = first or r
            r:prime()
            primed = primed + 1
        end
        i = i + 1
    end
    return first and first:prime() or 0
end

-- st = {tasks = {...}, task_i = 0, pages = 0, items = 0, scanned = 0}; start(st, task) returns a
-- reader, or nil when nothing can match.  Returns the items of the next non-empty page, the
-- task they belong to and the number of rows (#items, or a page's Count for Select COUNT),
-- or nil when every task is done.
function M.next_page(st, start)
    while true do
        if not st.reader or st.reader.done then
            st.task_i = st.task_i + 1
            if not st.tasks[st.task_i] then return nil end
            st.reader = reader_of(st, start, st.task_i)
        end
        if st.reader and not st.reader.done then
            local items, n = st.reader:next_page(st)
            if st.check_page then st.check_page(st) end
            if n > 0 then return items, st.tasks[st.task_i], n end
        end
    end
end

return M
