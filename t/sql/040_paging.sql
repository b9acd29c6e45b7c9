-- A table that needs several 1 MB pages: lazy paging, every row exactly once.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
INSERT INTO dynamodb (region, table_name, document)
SELECT 'us-east-1', 'dlf_pages', json_build_object('k', 'item' || i, 'pad', repeat('x', 100000))
FROM generate_series(1, 30) i;
SELECT count(*), count(DISTINCT partition_key) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages';
-- LIMIT stops after the first page
SELECT count(*) FROM (SELECT 1 FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages' LIMIT 1) s;
-- fan-out over an IN list of tables
SELECT table_name, count(*) FROM dynamodb
 WHERE region = 'us-east-1' AND table_name IN ('dlf_pages', 'dlf_numkeys') GROUP BY 1 ORDER BY 1;
-- count(*) of a whole table: DynamoDB counts (Select COUNT) and sends no item
EXPLAIN (COSTS OFF) SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages';
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages';
EXPLAIN (COSTS OFF) SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages' AND document IS NOT NULL;
-- a scan the executor starts but never runs (an InitPlan nobody needs) warns and reports nothing
SELECT CASE WHEN random() < 0 THEN (SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_pages') END AS never;
