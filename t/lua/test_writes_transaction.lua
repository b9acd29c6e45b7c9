-- write_mode transaction: one write per item, ON CONFLICT DO NOTHING inside a transaction,
-- cancellation reasons to SQLSTATEs naming the item, and the ClientRequestToken.
local T = require "testlib"
local capi = require "dynamo_lua_fdw.capi"
local errors = require "dynamo_lua_fdw.errors"
local aws_errors = require "dynamo_lua_fdw.aws.errors"
local writes = require "dynamo_lua_fdw.writes"

local SCHEMA = { partition_key = { name = "k", type = "S" } }

-- A client whose TransactWriteItems answers come from `answers` in turn: a list of reason codes
-- (TransactionCanceledException), a table {failure ctx} for another error, or nil for success.
local sent, answers
local client = {
    endpoint = "http://stub", region = "r", max_retries = 2, stats = { throttled = 0 },
    call = function(self, op, params)
        sent[#sent + 1] = { op = op, params = params }
        local a = table.remove(answers, 1)
        if a == nil or a == false then return {} end
        local ctx = a.failure and a or { failure = "aws", code = "TransactionCanceledException", status = 400,
            message = "Transaction cancelled, please refer cancellation reasons for specific reasons", reasons = a }
        ctx.service_name, ctx.operation = "DynamoDB", op
        errors.raise(aws_errors.build(ctx))
    end,
}
local function entry(e) e.level, e.client, e.table, e.describe = 1, client, "t", e.key; return e end
local function put(key) return entry{ key = key, put = { k = { S = key } } } end
local function del(key) return entry{ key = key, delete = { k = { S = key } } } end
local function upd(key, cond)
    return entry{ key = key, request = { op = "UpdateItem", params = { TableName = "t", Key = { k = { S = key } },
        UpdateExpression = "SET v = :v", ConditionExpression = cond, ReturnValues = "ALL_NEW" } } }
end
local function do_nothing(key)
    local e = writes.put_entry({ on_conflict = "nothing" }, "t", SCHEMA, key, { k = { S = key }, v = { S = "new" } })
    e.level, e.client = 1, client
    return e
end

local function commit(list, replies)
    sent, answers = {}, replies or {}
    writes.discard()
    for _, e in ipairs(list) do writes.add(e) end
    writes.set_mode(0, "transaction")
    local ok, err = pcall(writes.flush)
    writes.discard()
    return ok, err
end
local function kinds(request)
    local out = {}
    for i, a in ipairs(request.params.TransactItems) do out[i] = next(a) end
    return table.concat(out, " ")
end

T.test("cancellation reasons: the most decisive one names the action and the SQLSTATE", function()
    T.eq({ aws_errors.cancellation({ "None", "ConditionalCheckFailed" }) }, { 2, "ConditionalCheckFailed", "23505" })
    T.eq({ aws_errors.cancellation({ "TransactionConflict", "None", "ConditionalCheckFailed" }) },
        { 3, "ConditionalCheckFailed", "23505" }, "a false condition outweighs a conflict")
    T.eq({ aws_errors.cancellation({ "None", "TransactionConflict" }) }, { 2, "TransactionConflict", "40001" })
    T.eq({ aws_errors.cancellation({ "ThrottlingError" }) }, { 1, "ThrottlingError", "53000" })
    T.eq({ aws_errors.cancellation({ "ConditionalCheckFailed", "ValidationError" }) }, { 2, "ValidationError", "22023" })
    T.eq({ aws_errors.cancellation({ "None", "SomethingNew" }) }, { 2, "SomethingNew", "40001" })
    T.eq(aws_errors.cancellation({ "None", "None" }), nil)
    T.eq(aws_errors.cancellation(nil), nil)
end)

T.test("one write per item: later puts and deletes replace, DO NOTHING is decided by what came before", function()
    local list = writes.transaction_writes({ put("a"), do_nothing("a"), del("b"), do_nothing("b"), do_nothing("c"),
        do_nothing("c"), upd("d"), put("d"), put("e"), del("e") })
    T.eq(#list, 5)
    T.eq(list[1].put.k.S, "a"); T.eq(list[1].put.v, nil, "DO NOTHING after a put of its item does nothing")
    T.eq(list[2].put.v.S, "new", "DO NOTHING after a delete of its item is a plain put")
    T.ok(list[3].request.skip_if_condition_fails, "a first DO NOTHING stays conditional (the second does nothing)")
    T.ok(list[4].put, "a put after an UPDATE replaces it")
    T.ok(list[5].delete, "a delete after a put replaces it")
    T.raises(function() writes.transaction_writes({ put("a"), upd("a") }) end, "0A000", "twice", "UPDATE", "write_mode batch")
    T.raises(function() writes.transaction_writes({ upd("a"), upd("a") }) end, "0A000")
end)

T.test("request fields a transaction action cannot carry are dropped", function()
    T.ok(commit({ upd("a", "attribute_exists(v)") }))
    local u = sent[1].params.TransactItems[1].Update
    T.eq(u.ConditionExpression, "attribute_exists(v)")
    T.eq(u.ReturnValues, nil)
end)

T.test("ON CONFLICT DO NOTHING: an existing item becomes a check that it exists, sent again with a new token", function()
    local ok, err = commit({ do_nothing("old"), put("x"), do_nothing("new") }, { { "ConditionalCheckFailed", "None", "None" } })
    T.ok(ok, tostring(err and err.message))
    T.eq(#sent, 2)
    T.eq(kinds(sent[1]), "Put Put Put")
    T.eq(sent[1].params.TransactItems[1].Put.ConditionExpression, "attribute_not_exists(#k)")
    T.eq(kinds(sent[2]), "ConditionCheck Put Put")
    T.eq(sent[2].params.TransactItems[1].ConditionCheck,
        { TableName = "t", Key = { k = { S = "old" } }, ConditionExpression = "attribute_exists(#k)",
          ExpressionAttributeNames = { ["#k"] = "k" } })
    T.ok(sent[1].params.ClientRequestToken ~= sent[2].params.ClientRequestToken, "another request, another token")
end)

T.test("an item that vanished between the rounds is put after all", function()
    local ok = commit({ do_nothing("a"), put("x") }, { { "ConditionalCheckFailed", "None" }, { "ConditionalCheckFailed", "None" } })
    T.ok(ok)
    T.eq(#sent, 3)
    T.eq(kinds(sent[3]), "Put Put")
end)

T.test("when every DO NOTHING item exists and nothing else is written, one request is enough", function()
    T.ok(commit({ do_nothing("a"), do_nothing("b") }, { { "ConditionalCheckFailed", "ConditionalCheckFailed" } }))
    T.eq(#sent, 1)
end)

T.test("items that keep changing end in 40001 after the rounds run out", function()
    local replies = {}
    for i = 1, writes.TRANSACTION_ROUNDS do replies[i] = { "ConditionalCheckFailed" } end
    local ok, err = commit({ do_nothing("a"), put("x") }, replies)
    T.ok(not ok)
    T.eq(err.sqlstate, "40001")
    T.eq(#sent, writes.TRANSACTION_ROUNDS)
end)

T.test("a false condition of another write: 23505 naming its item, nothing applied", function()
    local ok, err = commit({ put("a"), upd("b", "v = :old") }, { { "None", "ConditionalCheckFailed" } })
    T.ok(not ok)
    T.eq(err.sqlstate, "23505")
    T.eq(err.message, 'could not write DynamoDB item b: the DynamoDB transaction was cancelled (ConditionalCheckFailed)')
    T.ok(err.detail:find("None of the transaction's 2 writes was applied.", 1, true), err.detail)
    T.ok(err.detail:find("ConditionalCheckFailed", 1, true), "the reasons are in the detail")
    T.ok(err.hint:find("condition", 1, true), err.hint)
    T.eq(#sent, 1, "not sent again")
end)

T.test("a conflict: 40001 naming its item; with a DO NOTHING failure beside it, no second round", function()
    local ok, err = commit({ put("a"), put("b") }, { { "None", "TransactionConflict" } })
    T.ok(not ok)
    T.eq(err.sqlstate, "40001")
    T.ok(err.message:find("item b:", 1, true), err.message)
    T.ok(err.hint:find("retry", 1, true), err.hint)
    ok, err = commit({ do_nothing("a"), put("b") }, { { "ConditionalCheckFailed", "TransactionConflict" } })
    T.ok(not ok)
    T.eq(err.sqlstate, "40001")
    T.eq(#sent, 1)
end)

T.test("a failure without an answer: the transaction may or may not have been applied, as a whole", function()
    local ok, err = commit({ put("a"), put("b") }, { { failure = "connection", kind = "recv", error_text = "reset", attempts = 3 } })
    T.ok(not ok)
    T.eq(err.sqlstate, "HV00N")
    T.ok(err.message:find("transaction of 2 items (the first: a)", 1, true), err.message)
    T.ok(err.detail:find("may or may not have been applied, as a whole", 1, true), err.detail)
end)

T.test("an item over the size limit is named, not the first one", function()
    local big = put("big"); big.put.pad = { S = string.rep("x", 1000) }
    local ok, err = commit({ put("small"), big }, { { failure = "aws", code = "ValidationException", status = 400,
        message = "Item size has exceeded the maximum allowed size" } })
    T.ok(not ok)
    T.eq(err.sqlstate, "22023")
    T.ok(err.message:find("item big:", 1, true), err.message)
end)

T.test("tokens differ between backends even where math.random runs the same sequence", function()
    local P = capi.persistent()
    local function backend(now)
        P.token_seq, P.last_token = nil, nil
        math.randomseed(1)
        capi.set_now(now)
        return writes.new_token()
    end
    local a, b = backend(1700000000.000001), backend(1700000000.000002)
    T.ok(a:match("^%x+$") and #a == 32, a)
    T.ok(a ~= b, "two backends, two tokens")
    T.ok(writes.new_token() ~= b, "one backend, a new token each time")
end)

T.test("a DO NOTHING write a script built without writes.put_entry is refused in a transaction", function()
    local e = entry{ key = "a", request = { op = "PutItem", skip_if_condition_fails = true, params = { TableName = "t", Item = {} } } }
    local ok, err = commit({ e })
    T.ok(not ok)
    T.eq(err.sqlstate, "0A000")
    T.eq(#sent, 0)
end)
