-- Writes at scale: multi-row INSERT in batches, COPY FROM, the request count of a big transaction.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE FOREIGN TABLE bulk (id integer NOT NULL, payload text, n numeric) SERVER dynamodb_server OPTIONS (table 'dlf_bulk');
-- 10 000 rows in one transaction: BatchWriteItem, 25 items a request, at commit
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
BEGIN;
INSERT INTO bulk SELECT i, repeat('x', 100) || i, i * 1.5 FROM generate_series(1, 10000) i;
SELECT (dynamo_lua_fdw.stats()->>'buffered_writes')::int AS buffered;
COMMIT;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before <= 401 AS at_most_401_requests;
SELECT count(*), count(DISTINCT id), sum(n) FROM bulk;
-- COPY FROM goes through the same buffer
COPY bulk (id, payload, n) FROM STDIN;
20001	copied one	1.25
20002	copied "two"	-7
\.
SELECT id, payload, n FROM bulk WHERE id IN (20001, 20002) ORDER BY id;
-- a failing row in a batch: nothing of the statement is sent
INSERT INTO bulk SELECT CASE WHEN i = 50 THEN NULL ELSE 30000 + i END, 'bad', 0 FROM generate_series(1, 100) i;
SELECT count(*) FROM bulk WHERE id > 30000;
-- RETURNING turns batching off and still works
INSERT INTO bulk VALUES (40001, 'returned', 2), (40002, 'returned', 3) RETURNING *;
-- a plain INSERT over an existing key replaces the item (PutItem), a deliberate choice;
-- ON CONFLICT DO NOTHING never overwrites an existing item
INSERT INTO bulk VALUES (1, 'replaced', 0);
SELECT payload, n FROM bulk WHERE id = 1;
EXPLAIN (COSTS OFF) INSERT INTO bulk VALUES (1, 'x', 0) ON CONFLICT DO NOTHING;
INSERT INTO bulk VALUES (1, 'not written', 9), (50001, 'new', 1) ON CONFLICT DO NOTHING;
SELECT id, payload, n FROM bulk WHERE id IN (1, 50001) ORDER BY id;
SET client_min_messages = warning;
INSERT INTO dynamodb (region, table_name, document)
VALUES ('us-east-1', 'fdwtest2', '{"pkey": "key1", "skey": "skey1", "text": "not written"}'),
       ('us-east-1', 'fdwtest2', '{"pkey": "key1", "skey": "skey9", "text": "new"}')
ON CONFLICT DO NOTHING;
SELECT sort_key, document->>'text' AS text FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key1' ORDER BY 1;
RESET client_min_messages;
-- TRUNCATE only where the table allows it; it commits and rolls back like other writes
TRUNCATE bulk;
CREATE FOREIGN TABLE bulk_all (id integer) SERVER dynamodb_server OPTIONS (table 'dlf_bulk', truncatable 'true');
BEGIN;
TRUNCATE bulk_all;
ROLLBACK;
SELECT count(*) FROM bulk;
TRUNCATE bulk_all;
SELECT count(*) FROM bulk;
-- write_mode transaction: one TransactWriteItems at commit, all or nothing
CREATE FOREIGN TABLE bulk_tx (id integer, payload text) SERVER dynamodb_server
  OPTIONS (table 'dlf_bulk', write_mode 'transaction');
INSERT INTO bulk_tx VALUES (1, 'tx one'), (2, 'tx two');
EXPLAIN (COSTS OFF) UPDATE bulk_tx SET payload = 'x' WHERE id = 2;
-- an UPDATE (UpdateItem) and an INSERT (Put) in one transaction: a Query, then one request at commit
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
BEGIN;
UPDATE bulk_tx SET payload = 'tx two, updated' WHERE id = 2;
INSERT INTO bulk_tx VALUES (3, 'tx three');
COMMIT;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS requests;
SELECT id, payload FROM bulk_tx WHERE id IN (1, 2, 3) ORDER BY id;
INSERT INTO bulk_tx SELECT i, 'too many' FROM generate_series(100, 200) i;
SELECT count(*) FROM bulk_tx WHERE id >= 100;
-- ON CONFLICT DO NOTHING in a transaction: the put of item 1 (which exists) is cancelled, then sent
-- as a check that the item exists, so the transaction is all or nothing and item 1 is kept (2 requests)
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
BEGIN;
INSERT INTO bulk_tx VALUES (1, 'not written'), (4, 'tx four') ON CONFLICT DO NOTHING;
INSERT INTO bulk_tx VALUES (5, 'tx five');
COMMIT;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS requests;
SELECT id, payload FROM bulk_tx WHERE id IN (1, 4, 5) ORDER BY id;
-- a transaction writes each item once: a second UPDATE of an item cannot be combined with the first
BEGIN;
UPDATE bulk_tx SET payload = 'first' WHERE id = 4;
UPDATE bulk_tx SET payload = 'second' WHERE id = 4;
COMMIT;
SELECT payload FROM bulk_tx WHERE id = 4;
-- write_mode immediate: each statement's writes are sent when it ends; ROLLBACK cannot undo them
CREATE FOREIGN TABLE bulk_now (id integer, payload text) SERVER dynamodb_server
  OPTIONS (table 'dlf_bulk', write_mode 'immediate');
BEGIN;
INSERT INTO bulk_now VALUES (7, 'immediate');
SELECT payload FROM bulk_now WHERE id = 7;
ROLLBACK;
SELECT payload FROM bulk_now WHERE id = 7;
CREATE FOREIGN TABLE bad_mode (id integer) SERVER dynamodb_server OPTIONS (table 'dlf_bulk', write_mode 'async');

-- UPDATE n = n + 1 is sent as an atomic increment: a change made by someone else before COMMIT is kept
CREATE FOREIGN TABLE counters (id text, n numeric, i integer) SERVER dynamodb_server OPTIONS (table 'dlf_typed');
INSERT INTO counters VALUES ('ctr', 10, 5);
EXPLAIN (VERBOSE, COSTS OFF) UPDATE counters SET n = n + 1, i = i - 2 WHERE id = 'ctr';
BEGIN;
UPDATE counters SET n = n + 1, i = i - 2 WHERE id = 'ctr';
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call UpdateItem '{"TableName":"dlf_typed","Key":{"id":{"S":"ctr"}},"UpdateExpression":"SET #n = :v","ExpressionAttributeNames":{"#n":"n"},"ExpressionAttributeValues":{":v":{"N":"100"}}}' > /dev/null
COMMIT;
SELECT n, i FROM counters WHERE id = 'ctr';
-- anything else sets the value PostgreSQL computed
UPDATE counters SET n = n * 2, i = 1 + i WHERE id = 'ctr';
SELECT n, i FROM counters WHERE id = 'ctr';
-- a BEFORE UPDATE trigger that changes the value: the value written is the row's, not an increment
CREATE FUNCTION counters_cap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := 1000; RETURN NEW; END $$;
CREATE TRIGGER counters_cap BEFORE UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION counters_cap();
EXPLAIN (COSTS OFF) UPDATE counters SET n = n + 1 WHERE id = 'ctr';
UPDATE counters SET n = n + 1 WHERE id = 'ctr' RETURNING n;
SELECT n FROM counters WHERE id = 'ctr';
DROP TRIGGER counters_cap ON counters;
DELETE FROM counters WHERE id = 'ctr';
