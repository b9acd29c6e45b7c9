-- Reading DynamoDB one page per call: GetItem, Query or Scan requests built
-- from a key schema, and the loop that walks a list of such tasks until a
-- page has rows.  A page that is empty but carries LastEvaluatedKey is
-- followed, so no row is skipped; each page is read once, so none repeats.
local errors = require "dynamo_lua_fdw.errors"

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

function M.reader(client, op, request)
    request.ReturnConsumedCapacity = "TOTAL"
    return setmetatable({ client = client, op = op, request = request, done = false }, Reader)
end

-- The next page's items; counts pages, items returned, items scanned and read capacity into stats.
function Reader:next_page(stats)
    local resp = self.client:call(self.op, self.request)
    local items
    stats.pages = stats.pages + 1
    if resp.ConsumedCapacity then
        stats.capacity = (stats.capacity or 0) + (tonumber(resp.ConsumedCapacity.CapacityUnits) or 0)
    end
    if self.op == "GetItem" then
        if resp.Item ~= nil and type(resp.Item) ~= "table" then errors.malformed("GetItem", "has an Item that is no object") end
        items = resp.Item and { resp.Item } or {}
        stats.items, stats.scanned = stats.items + #items, stats.scanned + #items
        self.done = true
    else
        items = resp.Items or {}
        if type(items) ~= "table" or (resp.LastEvaluatedKey ~= nil and type(resp.LastEvaluatedKey) ~= "table") then
            errors.malformed(self.op, "has Items or LastEvaluatedKey of the wrong type")
        end
        for i = 1, #items do
            if type(items[i]) ~= "table" then errors.malformed(self.op, "has an item that is no object") end
        end
        stats.items = stats.items + (tonumber(resp.Count) or #items)
        stats.scanned = stats.scanned + (tonumber(resp.ScannedCount) or #items)
        self.request.ExclusiveStartKey = resp.LastEvaluatedKey
        self.done = resp.LastEvaluatedKey == nil
    end
    return items
end

-- st = {tasks = {...}, task_i = 0, pages = 0, items = 0, scanned = 0}; start(st, task) returns a
-- reader, or nil when nothing can match.  Returns the items of the next non-empty page and the
-- task they belong to, or nil when every task is done.
function M.next_page(st, start)
    while true do
        if not st.reader or st.reader.done then
            st.task_i = st.task_i + 1
            local task = st.tasks[st.task_i]
            if not task then return nil end
            st.reader = start(st, task)
        end
        if st.reader and not st.reader.done then
            local items = st.reader:next_page(st)
            if #items > 0 then return items, st.tasks[st.task_i] end
        end
    end
end

return M
