-- The write buffer: savepoint levels, coalescing, ordering around UpdateItem, batching.
local T = require "testlib"
local writes = require "dynamo_lua_fdw.writes"

local sent
local client = {
    endpoint = "http://stub", region = "r", max_retries = 2, stats = { throttled = 0 },
    call = function(self, op, params) sent[#sent + 1] = { op = op, params = params }; return {} end,
    -- as the real client: finish(start(...)) is call(...)
    start = function(self, op, params) return { op = op, params = params } end,
    finish = function(self, p) return self:call(p.op, p.params) end,
}
local function put(key, level) return { level = level or 1, client = client, table = "t", key = key, describe = key, put = { k = { S = key } } } end
local function del(key, level) return { level = level or 1, client = client, table = "t", key = key, describe = key, delete = { k = { S = key } } } end
local function upd(key, level) return { level = level or 1, client = client, table = "t", key = key, describe = key, request = { op = "UpdateItem", params = { Key = { k = { S = key } } } } } end

local function keys(list)
    local out = {}
    for i, e in ipairs(list) do out[i] = (e.put and "put " or "delete ") .. e.key end
    return out
end

T.test("the last write of a key wins, in the order of the last writes", function()
    T.eq(keys(writes.coalesce({ put("a"), put("b"), del("a"), put("c"), put("b") })), { "delete a", "put c", "put b" })
end)

T.test("an UpdateItem splits the runs around it", function()
    local steps = writes.steps({ put("a"), put("a"), upd("a"), put("b"), del("b") })
    T.eq(#steps, 3)
    T.eq(keys(steps[1].batch), { "put a" })
    T.eq(steps[2].single.key, "a")
    T.eq(keys(steps[3].batch), { "delete b" })
end)

T.test("rollback to savepoint drops exactly the writes at or above its level; release keeps them", function()
    writes.discard()
    writes.add(put("a", 1)); writes.add(put("b", 2)); writes.add(put("c", 3))
    writes.commit_sub(3)            -- RELEASE of level 3: c now belongs to level 2
    writes.abort_sub(2)             -- ROLLBACK TO the savepoint of level 2
    T.eq(writes.pending(), 1)
    writes.add(put("d", 2))
    writes.commit_sub(2)
    T.eq(writes.pending(), 2)
    writes.discard()
end)

T.test("flush sends batches of 25 and updates in order, then empties the buffer", function()
    sent = {}
    writes.discard()
    for i = 1, 30 do writes.add(put("k" .. i)) end
    writes.add(upd("k1"))
    writes.add(del("k2"))
    writes.flush()
    T.eq(#sent, 4)
    T.eq(sent[1].op, "BatchWriteItem"); T.eq(#sent[1].params.RequestItems.t, 25)
    T.eq(#sent[2].params.RequestItems.t, 5)
    T.eq(sent[3].op, "UpdateItem")
    T.eq(sent[4].params.RequestItems.t[1].DeleteRequest.Key.k.S, "k2")
    T.eq(writes.pending(), 0)
end)

T.test("a conditional put whose condition fails is skipped; other failures are not", function()
    local errors = require "dynamo_lua_fdw.errors"
    sent = {}
    local saved = client.call
    client.call = function(self, op, params)
        sent[#sent + 1] = op
        if op == "PutItem" then
            errors.raise{ sqlstate = "23505", message = "conditional request failed", aws_code = params.code }
        end
        return {}
    end
    local function cput(code) return { level = 1, client = client, table = "t", key = code, describe = code,
        request = { op = "PutItem", params = { code = code }, skip_if_condition_fails = true } } end
    writes.discard()
    writes.add(cput("ConditionalCheckFailedException")); writes.add(put("after"))
    writes.flush()
    T.eq(sent, { "PutItem", "BatchWriteItem" })
    writes.add(cput("ValidationException"))
    T.raises(function() writes.flush() end, "conditional request failed")
    writes.discard()
    client.call = saved
end)

T.test("unprocessed items are retried until done", function()
    sent = {}
    local left = 2
    local saved = client.call
    client.call = function(self, op, params)
        sent[#sent + 1] = params
        if left > 0 then
            left = left - 1
            return { UnprocessedItems = { t = { params.RequestItems.t[1] } } }
        end
        return {}
    end
    writes.add(put("x")); writes.add(put("y"))
    writes.flush()
    client.call = saved
    T.eq(#sent, 3)
    T.eq(#sent[2].RequestItems.t, 1, "only the unprocessed item is sent again")
end)

T.test("write_mode transaction: one TransactWriteItems with a token, last write per key, at most 100", function()
    sent = {}
    writes.discard()
    for i = 1, 3 do writes.add(put("k" .. i)) end
    writes.add(del("k1"))
    writes.set_mode(0, "transaction")
    writes.add(put("batched"))
    writes.flush()
    T.eq(#sent, 2)
    T.eq(sent[1].op, "TransactWriteItems")
    local items = sent[1].params.TransactItems
    T.eq(#items, 3, "k1's put and delete coalesce to the delete")
    T.ok(sent[1].params.ClientRequestToken:match("^%x+$") and #sent[1].params.ClientRequestToken == 32, "a token")
    T.eq(items[1].Delete.Key.k.S, "k1", "in the order of first writes")
    T.eq(sent[2].op, "BatchWriteItem")
    for i = 1, 101 do writes.add(put("t" .. i)) end
    writes.set_mode(0, "transaction")
    T.raises(function() writes.flush() end, "54000", "at most 100 items")
    writes.discard()
end)

T.test("write_mode immediate: a statement's end sends only immediate writes", function()
    sent = {}
    writes.discard()
    writes.add(put("later"))
    local n = writes.pending()
    writes.add(put("now"))
    writes.set_mode(n, "immediate")
    writes.flush("immediate")
    T.eq(#sent, 1)
    T.eq(sent[1].params.RequestItems.t[1].PutRequest.Item.k.S, "now")
    T.eq(writes.pending(), 1, "the batch write waits for commit")
    writes.discard()
end)

T.test("past the buffer limit, batch writes are sent early with a warning; others wait", function()
    local capi = require "dynamo_lua_fdw.capi"
    sent, capi.logged = {}, {}
    writes.discard()
    local limit = writes.BUFFER_LIMIT
    writes.BUFFER_LIMIT = 3
    writes.add(put("tx")); writes.set_mode(0, "transaction")
    for i = 1, 3 do writes.add(put("b" .. i)) end
    writes.set_mode(1, "batch")
    writes.bound()
    writes.BUFFER_LIMIT = limit
    T.eq(#sent, 1)
    T.eq(#sent[1].params.RequestItems.t, 3)
    T.eq(writes.pending(), 1, "the transaction-mode write waits for commit")
    T.eq(capi.logged[1].level, "WARNING")
    writes.discard()
end)
