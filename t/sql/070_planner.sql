-- Key conditions in Lua: what DynamoDB is asked, and that it never changes an answer.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE FOREIGN TABLE grid (pk text NOT NULL, sk numeric NOT NULL, a text, n numeric, mixed jsonb,
                           _item jsonb OPTIONS (raw_item 'true'))
  SERVER dynamodb_server OPTIONS (table 'dlf_grid');
-- tricky data: unicode and quotes in keys, numbers at the limits, missing attributes, mixed types
INSERT INTO grid (pk, sk, a, n, mixed)
SELECT pk, sk::numeric, CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' || i || 'ü' END, CASE WHEN i % 4 = 0 THEN NULL ELSE i * 1.5 END,
       CASE WHEN i % 2 = 0 THEN to_jsonb(i) ELSE to_jsonb('s' || i) END
FROM unnest(ARRAY['p1', 'p2', 'ü', 'p"q']) WITH ORDINALITY p(pk, pi),
     unnest(ARRAY['-1E-130', '0', '1.5', '2', '10', '-5', '1E+20', '9.9999999999999999999999999999999999999E+125', '12.25'])
       WITH ORDINALITY s(sk, si),
     LATERAL (SELECT (pi * 10 + si)::int AS i) x;
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_grid","Item":{"pk":{"S":"p1"},"sk":{"N":"3"},"mixed":{"N":"7"},"other":{"S":"not mapped"}}}' > /dev/null
SELECT count(*) FROM grid;

-- each key condition DynamoDB can answer, as sent
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1';
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk = 2;
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk > 1.5;
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk BETWEEN 0 AND 10;
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk > 0 AND sk < 10;
EXPLAIN (VERBOSE, COSTS OFF) SELECT sk FROM grid WHERE pk IN ('p1', 'ü') AND sk <= 2;
-- what it cannot answer stays in PostgreSQL: a Scan
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk > 'p';
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' OR sk = 2;
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE sk = 2;
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk::float8 > 1;
SET dynamo_lua_fdw.pushdown = off;
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk = 'p1' AND sk = 2;
RESET dynamo_lua_fdw.pushdown;

-- parameters, and values no item can have
PREPARE range(text, numeric, numeric) AS SELECT sk FROM grid WHERE pk = $1 AND sk BETWEEN $2 AND $3 ORDER BY sk;
EXECUTE range('p2', 0, 10);
EXECUTE range('p2', 10, 0);
EXECUTE range('p2', NULL, 0);
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE range('p2', 0, 10);
RESET plan_cache_mode;
SELECT sk FROM grid WHERE pk = 'ü' AND sk >= 9.9999999999999999999999999999999999999E+125;
SELECT sk FROM grid WHERE pk = 'p"q' AND sk < -1 ORDER BY sk;

-- ORDER BY the sort key: the Query's own order, either way; LIMIT then needs one request
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk = 'p2' ORDER BY sk DESC LIMIT 1;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
SELECT sk FROM grid WHERE pk = 'p2' ORDER BY sk DESC LIMIT 1;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS requests;
SELECT sk FROM grid WHERE pk = 'p2' ORDER BY sk LIMIT 3;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT sk FROM grid WHERE pk = 'p2' ORDER BY sk DESC LIMIT 2;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
SELECT count(*) FROM (SELECT * FROM grid LIMIT 10) s;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS requests_for_limit_10;

-- text sort keys: LIKE 'prefix%' is begins_with; ranges and ORDER BY only in byte order (COLLATE "C")
CREATE FOREIGN TABLE pairs (pkey text, skey text, text text) SERVER dynamodb_server OPTIONS (table 'fdwtest2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT skey FROM pairs WHERE pkey = 'key1' AND skey LIKE 'skey%';
SELECT skey FROM pairs WHERE pkey = 'key1' AND skey LIKE 'skey%' ORDER BY 1;
SELECT skey FROM pairs WHERE pkey = 'key1' AND skey LIKE 'skey\_%' ORDER BY 1;
EXPLAIN (COSTS OFF) SELECT skey FROM pairs WHERE pkey = 'key1' AND skey > 'skey1';
EXPLAIN (COSTS OFF) SELECT skey FROM pairs WHERE pkey = 'key1' AND skey > 'skey1' COLLATE "C";
EXPLAIN (COSTS OFF) SELECT skey FROM pairs WHERE pkey = 'key1' ORDER BY skey;
EXPLAIN (COSTS OFF) SELECT skey FROM pairs WHERE pkey = 'key1' ORDER BY skey COLLATE "C" DESC;
SELECT skey FROM pairs WHERE pkey = 'key1' ORDER BY skey COLLATE "C" DESC;

-- the grid: every combination returns exactly the same rows with pushdown on and off
CREATE FUNCTION grid_check(OUT queries int, OUT pushed int, OUT mismatches int) LANGUAGE plpgsql AS $$
DECLARE
    pk_conds text[] := ARRAY['pk = ''p1''', 'pk = ''ü''', 'pk = ''p"q''', 'pk = ''none''', 'pk IN (''p1'', ''p2'')',
                             'pk = ANY (ARRAY[''ü'', ''p"q'', NULL])', 'pk = NULL', 'pk IS NOT NULL'];
    sk_conds text[] := ARRAY['true', 'sk = 2', 'sk = 2.0', 'sk = 3', 'sk > 1.5', 'sk >= 1.5', 'sk < 0', 'sk <= -1E-130',
                             'sk BETWEEN 0 AND 10', 'sk BETWEEN 10 AND 0', 'sk > 0 AND sk < 2', 'sk >= 1E+20',
                             'sk > -5 AND sk <= 9.9999999999999999999999999999999999999E+125', 'sk = -1E-130',
                             'sk::float8 > 1', 'sk IS NULL', 'sk > 2 AND a IS NOT NULL', 'sk <> 2', 'sk = 12.25 OR sk = 0',
                             'sk < 0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000001',
                             'a = ''v11ü''', 'sk IN (2, 10)', 'n > 10', 'sk >= NULL', 'sk < 10 AND sk > 10', 'sk = 1.5 AND n IS NULL',
                             'sk <= 2 AND sk >= 2', 'sk > 1E+125'];
    -- (pk breaks ties: the rows of an IN list are ordered only by PostgreSQL)
    orders text[] := ARRAY['', ' ORDER BY sk, pk', ' ORDER BY sk DESC, pk', ' ORDER BY sk DESC, pk LIMIT 2'];
    pk_c text; sk_c text; o text; q text; agg text; on_rows text; off_rows text; plan text;
BEGIN
    queries := 0; pushed := 0; mismatches := 0;
    FOREACH pk_c IN ARRAY pk_conds LOOP
        FOREACH sk_c IN ARRAY sk_conds LOOP
          FOREACH o IN ARRAY orders LOOP
            q := format('SELECT pk, sk, a, mixed FROM grid WHERE %s AND %s%s', pk_c, sk_c, o);
            -- without ORDER BY the rows are compared as a set, with it in their order
            agg := CASE WHEN o = '' THEN 'string_agg(t::text, '' '' ORDER BY t::text)' ELSE 'string_agg(t::text, '' '')' END;
            PERFORM set_config('dynamo_lua_fdw.pushdown', 'on', true);
            EXECUTE format('SELECT %s FROM (%s) t', agg, q) INTO on_rows;
            FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
                IF plan LIKE '%DynamoDB Operation: Query%' OR plan LIKE '%DynamoDB Operation: GetItem%' THEN
                    pushed := pushed + 1;
                END IF;
            END LOOP;
            PERFORM set_config('dynamo_lua_fdw.pushdown', 'off', true);
            EXECUTE format('SELECT %s FROM (%s) t', agg, q) INTO off_rows;
            queries := queries + 1;
            IF on_rows IS DISTINCT FROM off_rows THEN
                mismatches := mismatches + 1;
                RAISE NOTICE 'different rows: % (on: %, off: %)', q, on_rows, off_rows;
            END IF;
          END LOOP;
        END LOOP;
    END LOOP;
    PERFORM set_config('dynamo_lua_fdw.pushdown', 'on', true);
END $$;
SELECT * FROM grid_check();
-- a second ORDER BY key is sorted by PostgreSQL on top of the Query's order
EXPLAIN (COSTS OFF) SELECT sk, a FROM grid WHERE pk = 'p1' ORDER BY sk DESC, a LIMIT 3;
SELECT sk, a FROM grid WHERE pk = 'p1' ORDER BY sk DESC, a LIMIT 3;
EXPLAIN (COSTS OFF) SELECT sk FROM grid WHERE pk IN ('p1', 'p2') ORDER BY sk;

-- joins on the partition key: one Query (or GetItem) per outer row instead of a Scan
CREATE TABLE wanted (pk text);
INSERT INTO wanted VALUES ('p1'), ('ü');
ANALYZE wanted;
EXPLAIN (COSTS OFF) SELECT w.pk, g.sk FROM wanted w JOIN grid g ON g.pk = w.pk WHERE g.sk = 2;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
SELECT w.pk, g.sk FROM wanted w JOIN grid g ON g.pk = w.pk WHERE g.sk = 2 ORDER BY 1;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS requests_for_two_outer_rows;
EXPLAIN (COSTS OFF) SELECT w.pk, count(*) FROM wanted w JOIN grid g ON g.pk = w.pk GROUP BY 1;
SELECT w.pk, count(*) FROM wanted w JOIN grid g ON g.pk = w.pk GROUP BY 1 ORDER BY 1;
-- the generic table too, routed by constants
CREATE TABLE wanted_keys (k text);
INSERT INTO wanted_keys VALUES ('key10'), ('key11');
ANALYZE wanted_keys;
SET client_min_messages = warning;
EXPLAIN (COSTS OFF) SELECT k, d.sort_key FROM wanted_keys JOIN dynamodb d
  ON d.partition_key = k AND d.region = 'us-east-1' AND d.table_name = 'fdwtest2';
SELECT k, d.sort_key FROM wanted_keys JOIN dynamodb d
  ON d.partition_key = k AND d.region = 'us-east-1' AND d.table_name = 'fdwtest2' ORDER BY 1, 2;
RESET client_min_messages;
