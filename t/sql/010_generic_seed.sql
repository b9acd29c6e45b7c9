-- The original dynamodb_fdw README session, on table fdwtest2 (string pkey/skey, a text attribute).
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE FOREIGN TABLE dynamodb (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER dynamodb_server;

-- 2004 items, buffered and written with BatchWriteItem at commit
INSERT INTO dynamodb (region, table_name, document)
SELECT 'us-east-1', 'fdwtest2', json_build_object('pkey', 'key' || i, 'skey', 'skey' || j, 'text', 'hello ' || i)
FROM generate_series(1, 1002) i, generate_series(1, 2) j;
SELECT (dynamo_lua_fdw.stats()->>'buffered_writes')::int AS buffered_after_commit;

-- a scan: the WARNING once, the NOTICE when the scan node ends
SELECT count(*) FROM (SELECT * FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' LIMIT 10) s;

-- partition_key: a Query, no warning
SELECT partition_key, sort_key, document FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877'
 ORDER BY sort_key;

-- both keys: GetItem
SELECT oid, document->>'text' AS text FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877' AND sort_key = 'skey2';

SELECT partition_key, count(*) FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2'
 GROUP BY partition_key ORDER BY count(*) DESC, partition_key LIMIT 3;

SELECT partition_key, sort_key FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND document->>'text' = 'hello 453'
 ORDER BY sort_key;

DELETE FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND document->>'text' = 'hello 453';
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key453';

INSERT INTO dynamodb (region, table_name, partition_key, sort_key, document)
SELECT 'us-east-1', 'fdwtest2', 'new' || i, 'skey1', json_build_object('text', 'inserted ' || i)
FROM generate_series(1, 2) i
RETURNING oid, partition_key, sort_key, document;
SELECT partition_key, document FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key IN ('new1', 'new2') ORDER BY 1;

-- parameters: a prepared statement routes by its arguments
PREPARE by_key(text, text) AS
  SELECT sort_key, document->>'text' AS text FROM dynamodb
   WHERE region = 'us-east-1' AND table_name = $1 AND partition_key = $2 ORDER BY 1;
EXECUTE by_key('fdwtest2', 'key1');
EXECUTE by_key('fdwtest2', 'key2');
-- a join on the key: one Query per outer row (a parameterized path), no Scan
SELECT k, d.sort_key FROM (VALUES ('key10'), ('key11')) v(k)
  CROSS JOIN LATERAL (SELECT sort_key FROM dynamodb
     WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = v.k) d
 ORDER BY 1, 2;

-- EXPLAIN shows what is sent to DynamoDB
EXPLAIN (COSTS OFF) SELECT * FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2';
EXPLAIN (COSTS OFF, VERBOSE) SELECT document FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877' AND document->>'text' <> 'x';
EXPLAIN (COSTS OFF) SELECT * FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877' AND sort_key = 'skey1';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877';
EXPLAIN (COSTS OFF) DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'x';

-- the key schema comes from a cached DescribeTable: two GetItems cost exactly two requests
SET client_min_messages = warning;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS requests_before \gset
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key5' AND sort_key = 'skey1';
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key6' AND sort_key = 'skey1';
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :requests_before AS requests_for_two_getitems;
RESET client_min_messages;

-- without region and table_name: an error with a hint
SELECT * FROM dynamodb WHERE partition_key = 'key1';
SELECT * FROM dynamodb WHERE region = 'us-east-1';
SELECT * FROM dynamodb WHERE region = 'us-east-1' OR table_name = 'fdwtest2';
-- a table that does not exist (terse: the hint names the endpoint, whose port varies)
\set VERBOSITY terse
SELECT * FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'no_such_table';
\set VERBOSITY default
