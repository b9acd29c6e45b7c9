-- The transaction's write buffer: INSERT/UPDATE/DELETE are recorded here and
-- sent before commit with BatchWriteItem.  Entries carry the subtransaction
-- level that made them, so ROLLBACK TO SAVEPOINT drops exactly those.
-- The buffer lives in capi.persistent(): a script reload mid-transaction
-- must not lose writes.
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local retry = require "dynamo_lua_fdw.aws.retry"
local json = require "dynamo_lua_fdw.json"
local aws_errors = require "dynamo_lua_fdw.aws.errors"

local M = {}

local BATCH = 25 -- BatchWriteItem's limit

local function buffer()
    local P = capi.persistent()
    P.writes = P.writes or {}
    return P.writes
end

-- add{level=, client=, table=, key=<canonical key text>, describe=<for messages>,
--     put=<item> | delete=<key attribute map> | request={op=, params=, skip_if_condition_fails=}}
-- A request (UpdateItem, a conditional PutItem) is sent on its own, in statement order.
function M.add(entry)
    local b = buffer()
    b[#b + 1] = entry
end

function M.pending() return #buffer() end

-- Past this many buffered writes, batch-mode writes are sent before commit (memory stays bounded).
M.BUFFER_LIMIT = 50000

-- Sends batch-mode writes early when the buffer is past its limit; a ROLLBACK cannot undo them then.
function M.bound()
    local n = #buffer()
    if n <= M.BUFFER_LIMIT then return end
    capi.log("WARNING", string.format("%d DynamoDB writes are buffered; sending the batch-mode ones before commit", n),
        "A ROLLBACK can no longer undo them. Commit in smaller transactions, or use write_mode transaction for all-or-nothing writes.")
    M.flush("batch")
end

-- Marks the entries added after the first `from` with a write mode and (optional) the table's
-- write_concurrency option.
function M.set_mode(from, mode, concurrency)
    local b = buffer()
    for i = from + 1, #b do b[i].mode, b[i].concurrency = mode, concurrency end
end

-- The write of a new item: a put, or for INSERT ... ON CONFLICT DO NOTHING (rel.on_conflict)
-- a PutItem that only succeeds where no item has the key, so an existing item is never replaced.
function M.put_entry(rel, table_name, schema, key_text, item)
    if rel.on_conflict ~= "nothing" then
        return { table = table_name, key = key_text, describe = key_text, put = item }
    end
    local names = { ["#k"] = schema.partition_key.name }
    local key = { [schema.partition_key.name] = item[schema.partition_key.name] }
    if schema.sort_key then key[schema.sort_key.name] = item[schema.sort_key.name] end
    return { table = table_name, key = key_text, describe = key_text, request = { op = "PutItem",
        skip_if_condition_fails = true, params = { TableName = table_name, Item = item,
            ConditionExpression = "attribute_not_exists(#k)", ExpressionAttributeNames = names },
        -- in write_mode transaction, once the item is known to exist: the check that it still does
        exists_check = { TableName = table_name, Key = key, ConditionExpression = "attribute_exists(#k)",
            ExpressionAttributeNames = names } } }
end

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

-- Entries per target table, in statement order.
local function by_table(entries)
    local groups, order = {}, {}
    for _, e in ipairs(entries) do
        local id = e.client.endpoint .. "\0" .. e.client.region .. "\0" .. e.table
        if not groups[id] then
            groups[id] = { client = e.client, table = e.table, entries = {} }
            order[#order + 1] = groups[id]
        end
        local g = groups[id].entries
        g[#g + 1] = e
    end
    return order
end

-- The final write of each key among puts and deletes, in the order of those final
-- writes: BatchWriteItem refuses two writes of one key in a request, and the last wins anyway.
function M.coalesce(run)
    local last = {}
    for i, e in ipairs(run) do last[e.key] = i end
    local result = {}
    for i, e in ipairs(run) do
        if last[e.key] == i then result[#result + 1] = e end
    end
    return result
end

-- A table's writes as steps: {batch = {puts and deletes}} and {single = entry}, in order.
-- A single request (UpdateItem, conditional PutItem) depends on what came before it, so it
-- ends the run it follows.
function M.steps(entries)
    local steps, run = {}, {}
    local function close_run()
        if #run > 0 then steps[#steps + 1] = { batch = M.coalesce(run) } end
        run = {}
    end
    for _, e in ipairs(entries) do
        if e.request then
            close_run()
            steps[#steps + 1] = { single = e }
        else
            run[#run + 1] = e
        end
    end
    close_run()
    return steps
end

local function request_of(e)
    if e.put then return { PutRequest = { Item = e.put } } end
    return { DeleteRequest = { Key = e.delete } }
end

-- alongside (write_concurrency): {applied =, unknown =} writes of the requests that were in flight
-- with the failing one and sent after it (they are finished before the error is raised); nil when
-- there were none.
local function alongside_text(alongside)
    if not alongside then return "" end
    local s = string.format(" %d of the applied writes were in requests in flight with this one.", alongside.applied)
    if alongside.unknown > 0 then
        s = s .. string.format(" %d writes of requests in flight with it that failed too may or may not have been applied.",
            alongside.unknown)
    end
    return s
end

local function failure(err, e, applied, total, alongside)
    if not errors.is_structured(err) then error(err, 0) end -- cancel and other PostgreSQL errors
    -- no answer, or a server error: DynamoDB may have applied the failing request or not
    local unknown = err.sqlstate == "HV00N" or (tonumber(err.http_status) or 0) >= 500
    local own = err.detail
    err.message = string.format("could not write DynamoDB item %s: %s", e.describe, err.message)
    if alongside then
        err.detail = string.format("%d of %d buffered writes were applied: %d before the failing request, "
            .. "%d by requests in flight with it; %s No request was sent after them.%s "
            .. "Writes in different requests are not atomic.",
            applied, total, applied - alongside.applied, alongside.applied,
            unknown and "the writes of the failing request may or may not have been applied."
                or "the writes of the failing request were not applied.",
            alongside.unknown > 0 and string.format(" %d writes of requests in flight with it that failed too may "
                .. "or may not have been applied.", alongside.unknown) or "")
    else
        err.detail = string.format("%d of %d buffered writes were applied before the failing request; %s "
            .. "Writes in different requests are not atomic.", applied, total,
            unknown and "the writes of the failing request may or may not have been applied, later ones were not."
                or "the others were not applied.")
    end
    if own then err.detail = err.detail .. " " .. own end
    error(err, 0)
end

-- The chunk's entry that a request of UnprocessedItems stands for (json.encode sorts object
-- keys, so the same request encodes the same), or the chunk's first entry.
local function entry_of(chunk, request)
    local want = request and json.encode(request)
    for _, e in ipairs(chunk) do
        if json.encode(request_of(e)) == want then return e end
    end
    return chunk[1]
end

local function is_size_error(err)
    return errors.is_structured(err) and err.aws_code == "ValidationException"
        and tostring(err.message):lower():find("size", 1, true) ~= nil
end

-- The entry with the largest request (DynamoDB does not say which item is too big).
local function largest(entries)
    local biggest, size = entries[1], -1
    for _, e in ipairs(entries) do
        local n = #json.encode(e.request and e.request.params or request_of(e))
        if n > size then biggest, size = e, n end
    end
    return biggest
end

-- The entry a failed request is reported under: for "item size exceeded" the largest one,
-- else the first one still pending.
local function culprit(chunk, left, err)
    if is_size_error(err) then return largest(chunk) end
    return entry_of(chunk, left[1])
end

-- ---------- write_concurrency ----------

-- BatchWriteItem requests in flight at once during a flush: the table option write_concurrency
-- (carried by the entries, see set_mode), else the server option, else this default.
-- 8 from the measurement in docs/RELIABILITY.md ("write_concurrency"): with a 10 ms round trip,
-- 10 000 rows commit in 1.7-2.4 s at 8, 2.6-3.3 s at 4, 6.2-7.4 s at 1.
M.DEFAULT_CONCURRENCY = 8
-- At most this many, whatever the option says: the backend has 64 HTTP transfers for everything.
M.MAX_CONCURRENCY = 32

function M.concurrency_of(e)
    local so = e.client and e.client.opts and e.client.opts.server_options
    local v = tonumber(e.concurrency or (so and so.write_concurrency))
    if not v then return M.DEFAULT_CONCURRENCY end
    return math.max(1, math.min(M.MAX_CONCURRENCY, math.floor(v)))
end

-- The unprocessed requests of a BatchWriteItem answer for the table it wrote, checked:
-- they are sent again as they are.
local function unprocessed_of(resp, table_name)
    local u = resp.UnprocessedItems
    if u == nil then return {} end
    if type(u) ~= "table" then errors.malformed("BatchWriteItem", "has UnprocessedItems that are not an object") end
    for name, list in pairs(u) do
        if name ~= table_name then
            errors.malformed("BatchWriteItem", "has UnprocessedItems of a table it was not asked to write")
        end
        if type(list) ~= "table" then errors.malformed("BatchWriteItem", "has UnprocessedItems that are not a list") end
        for _, r in pairs(list) do
            if type(r) ~= "table" or not (type(r.PutRequest) == "table" or type(r.DeleteRequest) == "table") then
                errors.malformed("BatchWriteItem", "has UnprocessedItems that are not write requests")
            end
        end
    end
    return u[table_name] or {}
end

-- A chunk of up to 25 puts and deletes of one table: one BatchWriteItem, then its UnprocessedItems.
-- job.left: the requests DynamoDB has not applied yet.
local function new_job(group, chunk)
    local requests = {}
    for i, e in ipairs(chunk) do requests[i] = request_of(e) end
    return { group = group, chunk = chunk, left = requests, attempt = 0, limit = M.concurrency_of(chunk[1]) }
end

-- Sends the job's pending requests; returns the error (structured) if they could not be sent.
local function start_job(job)
    local c = job.group.client
    local ok, handle = pcall(c.start, c, "BatchWriteItem", { RequestItems = { [job.group.table] = job.left } })
    if not ok then
        if not errors.is_structured(handle) then error(handle, 0) end -- cancel and other PostgreSQL errors
        return handle
    end
    job.handle = handle
end

-- Waits for the job's request; with retry_unprocessed, sends UnprocessedItems again (with backoff)
-- until none are left. Returns nil when done, else "error", err or "unprocessed" (retries exhausted).
local function finish_job(job, retry_unprocessed)
    local g = job.group
    while true do
        local c = g.client
        local ok, resp = pcall(c.finish, c, job.handle)
        job.handle = nil
        if ok then ok, resp = pcall(unprocessed_of, resp, g.table) end
        if not ok then
            if not errors.is_structured(resp) then error(resp, 0) end -- cancel and other PostgreSQL errors
            return "error", resp
        end
        job.left = resp
        if #job.left == 0 or not retry_unprocessed then return nil end
        job.attempt = job.attempt + 1
        if job.attempt > c.max_retries then return "unprocessed" end
        c.stats.throttled = c.stats.throttled + 1
        capi.sleep(retry.backoff_ms(job.attempt))
        local err = start_job(job)
        if err then return "error", err end
    end
end

-- Sends puts, deletes and single requests: BatchWriteItem runs and requests in order per table.
-- The chunks of consecutive BatchWriteItem runs are independent (coalescing leaves one write per
-- key in a run, and runs of one table are separated by single requests), so up to
-- write_concurrency of them are in flight; they are finished in order, and a single request waits
-- for all of them. After a failure no chunk is sent; those in flight are finished and counted.
local function send_batches(b)
    if #b == 0 then return end
    local plan, total, applied = {}, 0, 0
    local clients, throttled = {}, 0 -- throttled: the counters' sum before sending, so only this flush's count
    for _, g in ipairs(by_table(b)) do
        if not clients[g.client] then
            clients[g.client] = true
            throttled = throttled - (g.client.stats.throttled or 0)
        end
        for _, step in ipairs(M.steps(g.entries)) do
            plan[#plan + 1] = { group = g, step = step }
            total = total + (step.batch and #step.batch or 1)
        end
    end

    local flight = {} -- jobs in flight, oldest first
    -- The job failed: finish those in flight after it, then raise with what was applied.
    local function fail(job, kind, err)
        local alongside = #flight > 0 and { applied = 0, unknown = 0 } or nil
        for _, other in ipairs(flight) do
            local outcome = "error"
            if other.handle then outcome = finish_job(other, false) end
            if outcome then
                alongside.unknown = alongside.unknown + #other.left
            else
                alongside.applied = alongside.applied + #other.chunk - #other.left
            end
        end
        local done = applied + #job.chunk - #job.left + (alongside and alongside.applied or 0)
        if kind == "unprocessed" then
            errors.raise{ sqlstate = "53000",
                message = "DynamoDB left writes unprocessed after " .. job.attempt .. " attempts",
                detail = string.format("%d of %d buffered writes were applied; the unprocessed ones include %s.%s",
                    done, total, entry_of(job.chunk, job.left[1]).describe, alongside_text(alongside)),
                hint = "Raise the server option max_retries or the table's write capacity." }
        end
        failure(err, culprit(job.chunk, job.left, err), done, total, alongside)
    end
    local function finish_oldest()
        local job = table.remove(flight, 1)
        local kind, err = finish_job(job, true)
        if kind then fail(job, kind, err) end
        applied = applied + #job.chunk
    end

    for _, p in ipairs(plan) do
        local g, batch, single = p.group, p.step.batch, p.step.single
        if single then
            while #flight > 0 do finish_oldest() end
            local r = single.request
            local ok, err = pcall(g.client.call, g.client, r.op, r.params, r.once)
            -- INSERT ... ON CONFLICT DO NOTHING: the item exists, so nothing is done
            local nothing = not ok and r.skip_if_condition_fails and errors.is_structured(err)
                and err.aws_code == "ConditionalCheckFailedException"
            if not ok and not nothing then failure(err, single, applied, total) end
            applied = applied + 1
        else
            for first = 1, #batch, BATCH do
                local chunk = {}
                for i = first, math.min(first + BATCH - 1, #batch) do chunk[#chunk + 1] = batch[i] end
                local job = new_job(g, chunk)
                while #flight >= job.limit do finish_oldest() end
                local err = start_job(job)
                if err then fail(job, "error", err) end
                flight[#flight + 1] = job
            end
        end
    end
    while #flight > 0 do finish_oldest() end
    for c in pairs(clients) do throttled = throttled + (c.stats.throttled or 0) end
    if throttled > 0 then
        capi.log("NOTICE", string.format("DynamoDB throttled %d write requests; they were retried", throttled))
    end
end

-- ---------- write_mode transaction ----------

-- TransactWriteItems accepts at most this many actions.
M.TRANSACTION_LIMIT = 100
-- Attempts of a transaction with ON CONFLICT DO NOTHING puts whose items keep appearing and vanishing.
M.TRANSACTION_ROUNDS = 10

-- A ClientRequestToken: DynamoDB treats requests with one token within 10 minutes as one, so
-- tokens come from OpenSSL's CSPRNG -- never from a sequence two backends could share.
function M.new_token()
    return capi.hex(capi.random_bytes(16))
end

-- How a request entry becomes a TransactWriteItems action: its kind and the fields it may carry.
local TRANSACT = {
    PutItem = { "Put", { "TableName", "Item", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues" } },
    UpdateItem = { "Update", { "TableName", "Key", "UpdateExpression", "ConditionExpression",
        "ExpressionAttributeNames", "ExpressionAttributeValues" } },
    DeleteItem = { "Delete", { "TableName", "Key", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues" } },
}

local function is_do_nothing(e) return e.request and e.request.skip_if_condition_fails end

-- The writes of a transaction, one per item (TransactWriteItems refuses two actions on one item),
-- in the order of their first write. A put or delete replaces what came before it. An
-- ON CONFLICT DO NOTHING put after another write of its item is decided here as batch mode would:
-- after a delete the item is gone, so it is a plain put; after anything else the item exists, so it
-- does nothing. Another request (an UPDATE's UpdateItem, which sets only the changed attributes)
-- cannot be folded into an earlier write of its item.
function M.transaction_writes(entries)
    local current, order = {}, {}
    for _, e in ipairs(entries) do
        local id = e.table .. "\0" .. e.key
        local cur, new = current[id], e
        if not cur then
            order[#order + 1] = id
        elseif is_do_nothing(e) then
            new = cur.delete and { client = e.client, table = e.table, key = e.key, describe = e.describe,
                put = e.request.params.Item } or cur
        elseif e.request then
            errors.raise{ sqlstate = "0A000",
                message = string.format("write_mode transaction cannot write DynamoDB item %s twice when the later write is an UPDATE",
                    e.describe),
                detail = "A DynamoDB transaction writes each item once, and an UPDATE sends only the columns it changed, so the two writes cannot be combined.",
                hint = "Commit between the two statements, or use write_mode batch for this table." }
        end
        current[id] = new
    end
    local list = {}
    for i, id in ipairs(order) do list[i] = current[id] end
    return list
end

-- The action of a write; exists: an ON CONFLICT DO NOTHING put whose item exists, sent as a check
-- that it still does (so doing nothing is part of the all-or-nothing outcome).
local function transact_action(e, exists)
    if e.put then return { Put = { TableName = e.table, Item = e.put } } end
    if e.delete then return { Delete = { TableName = e.table, Key = e.delete } } end
    local r = e.request
    if r.skip_if_condition_fails and not r.exists_check then
        errors.raise{ sqlstate = "0A000", message = "INSERT ... ON CONFLICT DO NOTHING of this mapping cannot run in write_mode transaction",
            detail = "The mapping script built the write without writes.put_entry, so it has no check that the item exists.",
            hint = "Build it with writes.put_entry, or use write_mode batch for this table." }
    end
    if exists then return { ConditionCheck = r.exists_check } end
    local form = TRANSACT[r.op]
    if not form then
        errors.raise{ sqlstate = "0A000", message = string.format("a DynamoDB %s cannot be part of a transaction", r.op),
            hint = "Use write_mode batch for this table." }
    end
    local action = {}
    for _, f in ipairs(form[2]) do action[f] = r.params[f] end
    return { [form[1]] = action }
end

-- Raises the error of a failed TransactWriteItems, naming the item whose cancellation reason decides
-- the SQLSTATE (a false condition 23505, a conflict 40001, ...: aws/errors.lua).
local function transaction_failure(err, list)
    if not errors.is_structured(err) then error(err, 0) end -- cancel and other PostgreSQL errors
    local n = #list
    -- the failed condition of an ON CONFLICT DO NOTHING put is no failure
    local reasons = {}
    for i, code in ipairs(err.cancellation_reasons or {}) do
        reasons[i] = (code == "ConditionalCheckFailed" and list[i] and is_do_nothing(list[i])) and "None" or code
    end
    local at, reason, sqlstate = aws_errors.cancellation(reasons)
    local e = at and list[at]
    if e then
        err.sqlstate = sqlstate
        err.message = string.format("could not write DynamoDB item %s: the DynamoDB transaction was cancelled (%s)",
            e.describe, reason)
        err.hint = aws_errors.cancellation_hint(reason) or err.hint
    elseif is_size_error(err) then
        err.message = string.format("could not write DynamoDB item %s: %s", largest(list).describe, err.message)
    else
        err.message = string.format("could not write the DynamoDB transaction of %d items (the first: %s): %s",
            n, list[1].describe, err.message)
    end
    -- no answer, or a server error: the transaction may have been applied (as a whole) or not
    local unknown = err.sqlstate == "HV00N" or (tonumber(err.http_status) or 0) >= 500
    err.detail = string.format(unknown and "The transaction of %d writes may or may not have been applied, as a whole."
        or "None of the transaction's %d writes was applied.", n) .. (err.detail and (" " .. err.detail) or "")
    error(err, 0)
end

-- write_mode transaction: every write in one TransactWriteItems, all or nothing. The request
-- (and its ClientRequestToken) is built once and the client retries it unchanged, so a retry
-- of a request DynamoDB did apply is not applied again.
local function send_transaction(entries)
    local list = M.transaction_writes(entries)
    local client = list[1].client
    for _, e in ipairs(list) do
        if e.client.endpoint ~= client.endpoint or e.client.region ~= client.region then
            errors.raise{ sqlstate = "0A000", message = "a DynamoDB transaction cannot span endpoints or regions",
                hint = "Write to one region per transaction in write_mode transaction." }
        end
    end
    if #list > M.TRANSACTION_LIMIT then
        errors.raise{ sqlstate = "54000",
            message = string.format("a DynamoDB transaction can write at most %d items; this one writes %d",
                M.TRANSACTION_LIMIT, #list),
            detail = "Nothing was written.",
            hint = "Split the work into smaller transactions, or use write_mode batch." }
    end
    -- ON CONFLICT DO NOTHING puts are conditional: a cancellation whose only reasons are their failed
    -- conditions turns them into checks that the items exist, and the transaction is sent again.
    local exists = {}
    for _ = 1, M.TRANSACTION_ROUNDS do
        local actions, writing = {}, false
        for i, e in ipairs(list) do
            actions[i] = transact_action(e, exists[i])
            writing = writing or not exists[i]
        end
        -- every item existed when DynamoDB checked them all at once: nothing to write
        if not writing then return end
        local ok, err = pcall(client.call, client, "TransactWriteItems",
            { TransactItems = actions, ClientRequestToken = M.new_token() })
        if ok then return end
        local reasons = errors.is_structured(err) and err.aws_code == "TransactionCanceledException"
            and err.cancellation_reasons or {}
        local flip, other = {}, false
        for i, code in ipairs(reasons) do
            if code == "ConditionalCheckFailed" and list[i] and is_do_nothing(list[i]) and list[i].request.exists_check then
                flip[#flip + 1] = i
            elseif code ~= "None" then
                other = true
            end
        end
        if other or #flip == 0 then transaction_failure(err, list) end
        for _, i in ipairs(flip) do exists[i] = not exists[i] end
    end
    errors.raise{ sqlstate = "40001",
        message = "items written with INSERT ... ON CONFLICT DO NOTHING kept appearing and disappearing during the commit",
        detail = string.format("The DynamoDB transaction was cancelled %d times; none of its writes was applied.", M.TRANSACTION_ROUNDS),
        hint = "Other sessions are writing the same items; retry the transaction." }
end

-- Sends the buffered writes, or only those of one write mode (immediate, at a statement's end).
-- Raises (aborting the transaction) on failure.
function M.flush(only_mode)
    local all, rest = buffer(), {}
    local b, tx = {}, {}
    for _, e in ipairs(all) do
        local mode = e.mode or "batch"
        if only_mode and mode ~= only_mode then
            rest[#rest + 1] = e
        elseif mode == "transaction" then
            tx[#tx + 1] = e
        else
            b[#b + 1] = e
        end
    end
    if #tx > 0 then send_transaction(tx) end
    send_batches(b)
    capi.persistent().writes = rest
end

return M
