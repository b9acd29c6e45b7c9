-- The transaction's write buffer: INSERT/UPDATE/DELETE are recorded here and
-- sent before commit with BatchWriteItem.  Entries carry the subtransaction
-- level that made them, so ROLLBACK TO SAVEPOINT drops exactly those.
-- The buffer lives in capi.persistent(): a script reload mid-transaction
-- must not lose writes.
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local retry = require "dynamo_lua_fdw.aws.retry"

local M = {}

local BATCH = 25 -- BatchWriteItem's limit

local function buffer()
    local P = capi.persistent()
    P.writes = P.writes or {}
    return P.writes
end

-- add{level=, client=, table=, key=<canonical key text>, describe=<for messages>,
--     put=<item> | delete=<key attribute map>}
function M.add(entry)
    local b = buffer()
    b[#b + 1] = entry
end

function M.pending() return #buffer() end

function M.discard() capi.persistent().writes = {} end

function M.abort_sub(level)
    local b, kept = buffer(), {}
    for _, e in ipairs(b) do
        if e.level < level then kept[#kept + 1] = e end
    end
    capi.persistent().writes = kept
end

function M.commit_sub(level)
    for _, e in ipairs(buffer()) do
        if e.level >= level then e.level = level - 1 end
    end
end

-- The final write of each key, in the order of those final writes, per target table.
-- BatchWriteItem rejects two writes of one key in a request; the last one wins anyway.
function M.coalesce(entries)
    local last = {}
    for i, e in ipairs(entries) do last[e.client.endpoint .. "\0" .. e.table .. "\0" .. e.key] = i end
    local groups, order = {}, {}
    for i, e in ipairs(entries) do
        local id = e.client.endpoint .. "\0" .. e.table
        if last[id .. "\0" .. e.key] == i then
            if not groups[id] then
                groups[id] = { client = e.client, table = e.table, entries = {} }
                order[#order + 1] = id
            end
            local g = groups[id].entries
            g[#g + 1] = e
        end
    end
    local result = {}
    for _, id in ipairs(order) do result[#result + 1] = groups[id] end
    return result
end

local function request_of(e)
    if e.put then return { PutRequest = { Item = e.put } } end
    return { DeleteRequest = { Key = e.delete } }
end

-- Sends one chunk, retrying UnprocessedItems with backoff.
local function send_chunk(group, chunk, applied, total)
    local requests = {}
    for i, e in ipairs(chunk) do requests[i] = request_of(e) end
    local pending = { [group.table] = requests }
    local attempt = 0
    while pending and next(pending) do
        local ok, resp = pcall(group.client.call, group.client, "BatchWriteItem", { RequestItems = pending })
        if not ok then
            if not errors.is_structured(resp) then error(resp, 0) end -- cancel and other PostgreSQL errors
            resp.message = string.format("could not write DynamoDB item %s: %s", chunk[1].describe, resp.message)
            resp.detail = string.format("%d of %d buffered writes were applied before the failure; "
                .. "the others were not. BatchWriteItem is not atomic across requests.%s",
                applied, total, resp.detail and (" " .. resp.detail) or "")
            error(resp, 0)
        end
        pending = resp.UnprocessedItems
        if pending and next(pending) then
            attempt = attempt + 1
            if attempt > group.client.max_retries then
                local first = pending[group.table] and pending[group.table][1]
                errors.raise{ sqlstate = "53000",
                    message = "DynamoDB left writes unprocessed after " .. attempt .. " attempts",
                    detail = string.format("%d of %d buffered writes were applied; the unprocessed ones include %s.",
                        applied, total, first and chunk[1].describe or "?"),
                    hint = "Raise the server option max_retries or the table's write capacity." }
            end
            group.client.stats.throttled = group.client.stats.throttled + 1
            capi.sleep(retry.backoff_ms(attempt))
        end
    end
end

-- Sends every buffered write.  Raises (aborting the transaction) on failure.
function M.flush()
    local b = buffer()
    if #b == 0 then return end
    local groups = M.coalesce(b)
    local total, applied = 0, 0
    for _, g in ipairs(groups) do total = total + #g.entries end
    for _, g in ipairs(groups) do
        for first = 1, #g.entries, BATCH do
            local chunk = {}
            for i = first, math.min(first + BATCH - 1, #g.entries) do chunk[#chunk + 1] = g.entries[i] end
            send_chunk(g, chunk, applied, total)
            applied = applied + #chunk
        end
    end
    M.discard()
    local throttled = 0
    for _, g in ipairs(groups) do throttled = throttled + (g.client.stats.throttled or 0) end
    if throttled > 0 then
        capi.log("NOTICE", string.format("DynamoDB throttled %d write requests; they were retried", throttled))
    end
end

return M
