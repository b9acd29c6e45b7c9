-- A DynamoDB table's stream as a foreign table (DynamoDB Local). Sequence numbers, event ids
-- and times vary from run to run and are checked by form (EXPLAIN shows sequence numbers as N).
\set SHOW_CONTEXT never
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call DeleteTable '{"TableName":"dlf_streamed"}' >/dev/null 2>&1; node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call CreateTable '{"TableName":"dlf_streamed","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}}' >/dev/null
CREATE FOREIGN TABLE streamed (id text NOT NULL, n numeric, tags text[], doc jsonb) SERVER dynamodb_server
    OPTIONS (table 'dlf_streamed');
CREATE FOREIGN TABLE streamed_changes (shard_id text, sequence_number numeric, event_id text, event_name text,
    approximate_creation_time timestamptz, keys jsonb, new_image json, old_image json, size_bytes bigint,
    stream_view_type text) SERVER dynamodb_server OPTIONS (mapping 'dynamodb_stream', table 'dlf_streamed');

INSERT INTO streamed VALUES ('a', 12345678901234567890.123456789, '{x,y}', '{"l": [], "m": {}}');
UPDATE streamed SET n = 2 WHERE id = 'a';
INSERT INTO streamed (id, n) VALUES ('b', 1);
DELETE FROM streamed WHERE id = 'a';
-- INSERT, MODIFY, REMOVE with the images; numbers keep every digit, [] stays a list
SELECT row_number() OVER (ORDER BY sequence_number) AS n, event_name, keys, new_image, old_image
  FROM streamed_changes ORDER BY sequence_number;
SELECT count(*) AS records, count(DISTINCT event_id) AS event_ids, min(stream_view_type) AS view_type,
       bool_and(size_bytes > 0) AS sizes, bool_and(shard_id LIKE 'shardId-%') AS shard_ids,
       bool_and(approximate_creation_time > now() - interval '1 hour') AS recent
  FROM streamed_changes;
-- the images as the typed table would read them again
SELECT (new_image->>'n')::numeric AS n FROM streamed_changes WHERE event_name = 'INSERT' AND keys->>'id' = 'a';

-- where reading starts: after a sequence number (the conditions are also checked by PostgreSQL)
SELECT max(sequence_number) AS last_seq FROM streamed_changes WHERE keys->>'id' = 'b' \gset
SELECT event_name, keys FROM streamed_changes WHERE sequence_number > :last_seq;
SELECT event_name, keys FROM streamed_changes WHERE sequence_number >= :last_seq ORDER BY sequence_number;
CREATE FUNCTION explain_stream(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        RETURN NEXT regexp_replace(l, '''\d+''', '''N''', 'g');
    END LOOP;
END $$;
SELECT explain_stream('SELECT event_name FROM streamed_changes WHERE sequence_number > ' || :'last_seq');
EXPLAIN (COSTS OFF, VERBOSE) SELECT keys FROM streamed_changes WHERE shard_id = 'shardId-x';
SELECT count(*) FROM streamed_changes WHERE shard_id = 'shardId-x';

-- the stream named by its ARN
\set arn `node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call DescribeTable '{"TableName":"dlf_streamed"}' | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>process.stdout.write(JSON.parse(s).Table.LatestStreamArn))'`
CREATE FOREIGN TABLE by_arn (event_name text, keys json) SERVER dynamodb_server
    OPTIONS (mapping 'dynamodb_stream', stream :'arn');
SELECT event_name, keys FROM by_arn WHERE event_name = 'REMOVE';

-- errors
INSERT INTO streamed_changes (event_name) VALUES ('INSERT');
DELETE FROM streamed_changes;
CREATE FOREIGN TABLE no_stream (keys json) SERVER dynamodb_server OPTIONS (mapping 'dynamodb_stream', table 'fdwtest2');
SELECT * FROM no_stream;
CREATE FOREIGN TABLE no_table (keys json) SERVER dynamodb_server OPTIONS (mapping 'dynamodb_stream', table 'dlf_no_such_table');
SELECT * FROM no_table;
CREATE FOREIGN TABLE no_option (keys json) SERVER dynamodb_server OPTIONS (mapping 'dynamodb_stream');
SELECT * FROM no_option;
CREATE FOREIGN TABLE bad_column (keys json, payload text) SERVER dynamodb_server
    OPTIONS (mapping 'dynamodb_stream', table 'dlf_streamed');
SELECT * FROM bad_column;
