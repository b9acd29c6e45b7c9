-- Writes are buffered and sent at commit; rollback and savepoints discard exactly what they should.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE VIEW xact_items AS
  SELECT partition_key AS k, document->>'v' AS v FROM dynamodb
   WHERE region = 'us-east-1' AND table_name = 'dlf_xact';
SET client_min_messages = error;  -- the scan WARNING/NOTICE are tested elsewhere

BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k1", "v": "rolled back"}');
SELECT (dynamo_lua_fdw.stats()->>'buffered_writes')::int AS buffered;
-- not visible before commit: DynamoDB has not seen it yet
SELECT * FROM xact_items;
ROLLBACK;
SELECT * FROM xact_items;

BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k2", "v": "kept"}');
SAVEPOINT s1;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k3", "v": "rolled back to s1"}');
SAVEPOINT s2;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k4", "v": "rolled back with s1"}');
RELEASE SAVEPOINT s2;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k5", "v": "after the savepoint"}');
SAVEPOINT s3;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k6", "v": "released"}');
RELEASE SAVEPOINT s3;
SELECT (dynamo_lua_fdw.stats()->>'buffered_writes')::int AS buffered;
COMMIT;
SELECT * FROM xact_items ORDER BY k;

-- an error inside a savepoint keeps the writes before it
BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k7", "v": "before the error"}');
SAVEPOINT s;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"v": "no key"}');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM xact_items WHERE k = 'k7';

-- DELETE then INSERT of one key: the final state wins
BEGIN;
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_xact' AND partition_key = 'k2';
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k2", "v": "re-inserted"}');
COMMIT;
-- INSERT then DELETE of one key in one transaction: gone
BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k5", "v": "overwritten"}');
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_xact' AND partition_key = 'k5';
COMMIT;
SELECT * FROM xact_items ORDER BY k;

-- UPDATE replaces the item; changing the key is a delete plus a put
UPDATE dynamodb SET document = '{"v": "updated"}'
 WHERE region = 'us-east-1' AND table_name = 'dlf_xact' AND partition_key = 'k6'
 RETURNING partition_key, document;
UPDATE dynamodb SET partition_key = 'k8'
 WHERE region = 'us-east-1' AND table_name = 'dlf_xact' AND partition_key = 'k7'
 RETURNING oid, document;
SELECT * FROM xact_items ORDER BY k;
-- DELETE ... RETURNING shows the old row
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_xact' AND partition_key = 'k8'
 RETURNING partition_key, document;

-- bad writes: clear errors, nothing sent
INSERT INTO dynamodb (region, table_name, partition_key, document) VALUES ('us-east-1', 'dlf_xact', 'a', '{"k": "b"}');
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"v": 1}');
INSERT INTO dynamodb (table_name, document) VALUES ('dlf_xact', '{"k": "x"}');
INSERT INTO dynamodb (region, table_name, sort_key, document) VALUES ('us-east-1', 'dlf_xact', 's', '{"k": "x"}');
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', 'not json');

-- a commit that fails aborts the transaction and names the item
BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k9", "v": "never"}');
INSERT INTO dynamodb (region, table_name, document)
  SELECT 'us-east-1', 'dlf_xact', json_build_object('k', 'k9', 'v', repeat('x', 500000));
COMMIT;
SELECT * FROM xact_items WHERE k = 'k9';
-- PREPARE TRANSACTION refuses buffered writes
BEGIN;
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_xact', '{"k": "k10"}');
PREPARE TRANSACTION 'dlf';
SELECT * FROM xact_items WHERE k = 'k10';
