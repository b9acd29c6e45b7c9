-- document is the whole item as JSON, lossless for every DynamoDB type; keys of type N and B.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_types","Item":{"id":{"S":"all"},"s":{"S":"text ü \" \\\\ \n tab\t"},"es":{"S":""},"n":{"N":"12345678901234567890123456789012345678"},"tiny":{"N":"-1E-130"},"huge":{"N":"9.9999999999999999999999999999999999999E+125"},"b":{"B":"AAEC/w=="},"t":{"BOOL":true},"f":{"BOOL":false},"z":{"NULL":true},"m":{"M":{"a":{"N":"1"},"empty":{"M":{}}}},"l":{"L":[{"S":"x"},{"N":"2"},{"L":[]}]},"ss":{"SS":["a","b"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AA==","AQ=="]}}}' > /dev/null
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_types","Item":{"id":{"S":"nul"},"s":{"S":"a\u0000b"}}}' > /dev/null

SELECT document FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' AND partition_key = 'all';
-- numbers keep every digit
SELECT document::jsonb->'n' AS n, (document->>'n')::numeric + 1 AS n_plus_1, document->'tiny' AS tiny, document->'huge' AS huge
  FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' AND partition_key = 'all';
-- sets become arrays, binary stays base64
SELECT json_typeof(document->'ss') AS ss, document->'ns' AS ns, decode(document->>'b', 'base64') AS b
  FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' AND partition_key = 'all';
-- a NUL inside a string is escaped in JSON text
SELECT document FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' AND partition_key = 'nul';
-- (PostgreSQL's own ->> cannot turn \u0000 into text, so the item goes before the next queries)
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call DeleteItem '{"TableName":"dlf_types","Key":{"id":{"S":"nul"}}}' > /dev/null
-- written JSON keeps its numbers exactly
INSERT INTO dynamodb (region, table_name, document) VALUES
  ('us-east-1', 'dlf_types', '{"id": "written", "n": 0.12345678901234567890123456789012345678e5, "big": -98765432109876543210987654321098765432, "l": [], "m": {}, "nested": [[{"x": null}]]}');
SELECT document FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' AND partition_key = 'written';
-- numbers DynamoDB cannot store are refused before anything is sent
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_types', '{"id": "bad", "n": 1e200}');
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_types', '[1, 2]');
INSERT INTO dynamodb (region, table_name, document) VALUES ('us-east-1', 'dlf_types', '{"id": ""}');

-- N and B keys: partition_key/sort_key show them as text (exact decimal, base64).
-- RETURNING shows the key as written; DynamoDB stores N 1.50 as 1.5 (the same number).
INSERT INTO dynamodb (region, table_name, partition_key, sort_key, document) VALUES
  ('us-east-1', 'dlf_numkeys', '1.50', 'AAEC', '{"v": 1}'),
  ('us-east-1', 'dlf_numkeys', '-12345678901234567890123456789012345678', '/w==', '{"v": 2}')
RETURNING partition_key, sort_key, oid;
SELECT partition_key, sort_key, oid, document FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'dlf_numkeys' ORDER BY document->>'v';
-- the key is compared as text, as the column is text: '1.5' matches, '1.50' does not
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_numkeys' AND partition_key = '1.5';
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_numkeys' AND partition_key = '1.50';
-- text that is no number cannot match an N key: no rows, no error
SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_numkeys' AND partition_key = 'abc';
INSERT INTO dynamodb (region, table_name, partition_key, sort_key, document) VALUES
  ('us-east-1', 'dlf_numkeys', 'abc', 'AAEC', '{}');
INSERT INTO dynamodb (region, table_name, partition_key, sort_key, document) VALUES
  ('us-east-1', 'dlf_numkeys', '1', 'not base64!', '{}');

-- keys with quotes, separators, brackets and unicode round-trip through oid
INSERT INTO dynamodb (region, table_name, partition_key, document) VALUES
  ('us-east-1', 'dlf_types', 'odd "key", [with] {all}: ü/\|', '{"v": "odd"}'),
  ('us-east-1', 'dlf_types', '["us-east-1","dlf_types","id",{"S":"all"}]', '{"v": "looks like an oid"}');
SELECT partition_key, oid FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types'
   AND document->>'v' IS NOT NULL ORDER BY 1;
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types'
   AND partition_key = 'odd "key", [with] {all}: ü/\|' RETURNING partition_key, document;
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types'
   AND oid = '["us-east-1","dlf_types","id",{"S":"[\"us-east-1\",\"dlf_types\",\"id\",{\"S\":\"all\"}]"}]';
SELECT partition_key FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types' ORDER BY 1;

-- a NUL inside a key cannot be shown as text: a clear error
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_types","Item":{"id":{"S":"nul\u0000key"}}}' > /dev/null
SELECT partition_key FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_types';
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call DeleteItem '{"TableName":"dlf_types","Key":{"id":{"S":"nul\u0000key"}}}' > /dev/null
