-- Typed foreign tables: one column per attribute, every type both ways, lossless.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
-- items written by another client
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_typed","Item":{"id":{"S":"all"},"name":{"S":"Ernest Hemingway"},"status":{"S":"active"},"count":{"N":"42"},"Weird.Name-X":{"S":"odd name"},"n":{"N":"-1E-130"},"big":{"N":"12345678901234567890123456789012345678"},"huge":{"N":"9.9999999999999999999999999999999999999E+125"},"i":{"N":"2147483647"},"flag":{"BOOL":true},"data":{"B":"AAEC/w=="},"tags":{"SS":["a b","c\"d","e\\\\f"]},"nums":{"NS":["1","2.5","-3"]},"blobs":{"BS":["AA==","/w=="]},"doc":{"M":{"a":{"N":"1.10"},"l":{"L":[]},"s":{"SS":["x"]}}},"list":{"L":[{"S":"x"},{"NULL":true}]},"ts":{"S":"2024-02-29T12:34:56.789Z"},"epoch":{"N":"1700000000.5"},"uid":{"S":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},"extra":{"S":"not mapped"}}}' > /dev/null
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_typed","Item":{"id":{"S":"sparse"}}}' > /dev/null

CREATE FOREIGN TABLE typed_items (
    id text NOT NULL, name text, status text, count integer,
    weird text OPTIONS (attribute 'Weird.Name-X'),
    n numeric, big numeric, huge numeric, i integer, flag boolean, data bytea,
    tags text[], nums numeric[], blobs bytea[], doc jsonb, list json,
    ts timestamptz, epoch timestamptz OPTIONS (format 'epoch'), uid uuid,
    _item jsonb OPTIONS (raw_item 'true')
) SERVER dynamodb_server OPTIONS (table 'dlf_typed');
SET timezone = 'UTC';

\x on
SELECT * FROM typed_items WHERE id = 'all';
\x off
-- a missing attribute reads as NULL
SELECT id, name IS NULL AS no_name, tags IS NULL AS no_tags, _item FROM typed_items WHERE id = 'sparse';
-- numbers keep every digit; keys by equality become GetItem/Query
SELECT big + 1 AS big_plus_1, huge = 9.9999999999999999999999999999999999999E+125 AS huge_ok FROM typed_items WHERE id = 'all';
EXPLAIN (COSTS OFF) SELECT * FROM typed_items WHERE id = 'all';
EXPLAIN (COSTS OFF) SELECT * FROM typed_items WHERE status = 'active';
-- a case-insensitive collation must not route the key lookup
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
EXPLAIN (COSTS OFF) SELECT id FROM typed_items WHERE id = 'ALL' COLLATE case_insensitive;
SELECT id FROM typed_items WHERE id = 'ALL' COLLATE case_insensitive;

-- a value of the wrong DynamoDB type, or out of range: an error naming column and item
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_typed","Item":{"id":{"S":"bad type"},"i":{"S":"abc"}}}' > /dev/null
SELECT i FROM typed_items WHERE id = 'bad type';
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_typed","Item":{"id":{"S":"bad type"},"i":{"N":"2147483648"}}}' > /dev/null
\set SHOW_CONTEXT errors
SELECT i FROM typed_items WHERE id = 'bad type';
\set SHOW_CONTEXT never
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call DeleteItem '{"TableName":"dlf_typed","Key":{"id":{"S":"bad type"}}}' > /dev/null

-- writing: every type goes back as the same DynamoDB type
INSERT INTO typed_items (id, name, count, weird, n, big, i, flag, data, tags, nums, blobs, doc, list, ts, epoch, uid)
SELECT 'copy', name, count, weird, n, big, i, flag, data, tags, nums, blobs, doc, list, ts, epoch, uid
  FROM typed_items WHERE id = 'all';
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call GetItem '{"TableName":"dlf_typed","Key":{"id":{"S":"copy"}}}' | node -e 'const i=JSON.parse(require("fs").readFileSync(0)).Item; for (const k of Object.keys(i).sort()) console.log(k, JSON.stringify(i[k]))'
-- UPDATE sends only the changed attributes: "extra", mapped by no column, survives; NULL removes
UPDATE typed_items SET status = 'retired', count = NULL WHERE id = 'all';
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call GetItem '{"TableName":"dlf_typed","Key":{"id":{"S":"all"}},"ProjectionExpression":"id, #s, #c, extra","ExpressionAttributeNames":{"#s":"status","#c":"count"}}'
-- sets cannot be empty in DynamoDB
UPDATE typed_items SET tags = '{}' WHERE id = 'all';
INSERT INTO typed_items (id, tags) VALUES ('nulls in a set', '{a,NULL}');
INSERT INTO typed_items (name) VALUES ('no key');
DELETE FROM typed_items WHERE id IN ('copy', 'sparse') RETURNING id, name;
SELECT id FROM typed_items ORDER BY id;

-- number and binary keys
CREATE FOREIGN TABLE numkeys (n numeric NOT NULL, b bytea NOT NULL, v integer)
  SERVER dynamodb_server OPTIONS (table 'dlf_numkeys');
SELECT n, b, v FROM numkeys ORDER BY n;
EXPLAIN (COSTS OFF) SELECT * FROM numkeys WHERE n = 1.50 AND b = '\x000102';
SELECT n, v FROM numkeys WHERE n = 1.50 AND b = '\x000102';
INSERT INTO numkeys VALUES (7, '\xdeadbeef', 70), (8.25, '\x00', 80);
SELECT n, b, v FROM numkeys WHERE n IN (7, 8.25) ORDER BY n;
-- an integer column over an N key
CREATE FOREIGN TABLE numkeys_int (n integer, b bytea, v integer) SERVER dynamodb_server OPTIONS (table 'dlf_numkeys');
SELECT n, v FROM numkeys_int WHERE n = 7;
