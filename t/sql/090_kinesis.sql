-- Kinesis foreign tables (kinesalite) and change capture in pg_kinesis's record format.
-- The streams are made new by t/bin/lib.sh; lsn and time values vary and are checked by form.
\set SHOW_CONTEXT never
\! bash -c '. "$DLF_ROOT/t/bin/lib.sh" && dlf_kinesis_stream dlf_customers 2 && dlf_kinesis_stream dlf_events 1 && dlf_kinesis_stream dlf_bulk 4 && dlf_kinesis_stream dlf_bin 1'
CREATE FOREIGN TABLE customers_stream (shard_id text, sequence_number numeric, arrival_time timestamptz,
    partition_key text, data json) SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_customers');
-- EXPLAIN says where an INSERT goes (the mapping's explain_modify)
EXPLAIN (COSTS OFF) INSERT INTO customers_stream (partition_key, data) VALUES ('k', '{}');

-- pg_kinesis's README example, statement by statement (each one commits)
CREATE TABLE customers (id serial primary key, first_name text, last_name text);
CREATE TRIGGER customers_to_kinesis AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('customers_stream');
INSERT INTO customers (first_name, last_name) VALUES ('Hello', 'World');
INSERT INTO customers (first_name, last_name) VALUES ('Goodbye', 'World');
UPDATE customers SET last_name = 'Friends' where first_name = 'Hello';
DELETE FROM customers WHERE first_name = 'Goodbye';
ALTER TABLE customers REPLICA IDENTITY FULL;
UPDATE customers SET last_name = 'Replica Friends' where first_name = 'Hello';

-- The records in WAL order, compared byte for byte with the README's (lsn and time cut out;
-- the README's first record carries a stray "time" among its columns, left out here).
CREATE TEMP VIEW got AS
SELECT row_number() OVER (ORDER BY (data->>'lsn')::pg_lsn) AS n, partition_key, data::text AS record
  FROM customers_stream;
CREATE TEMP TABLE documented (n int, record text);
INSERT INTO documented VALUES
 (1, '{"table":"public.customers","operation":"INSERT","columns":{"first_name":{"new":{"q":"true","t":"text","v":"Hello"}},"id":{"new":{"q":"false","t":"integer","v":"1"}},"last_name":{"new":{"q":"true","t":"text","v":"World"}}}}'),
 (2, '{"table":"public.customers","operation":"INSERT","columns":{"first_name":{"new":{"q":"true","t":"text","v":"Goodbye"}},"id":{"new":{"q":"false","t":"integer","v":"2"}},"last_name":{"new":{"q":"true","t":"text","v":"World"}}}}'),
 (3, '{"table":"public.customers","operation":"UPDATE","columns":{"first_name":{"new":{"q":"true","t":"text","v":"Hello"}},"id":{"new":{"q":"false","t":"integer","v":"1"}},"last_name":{"new":{"q":"true","t":"text","v":"Friends"}}}}'),
 (4, '{"table":"public.customers","operation":"DELETE","columns":{"id":{"old":{"q":"false","t":"integer","v":"2"}}}}'),
 (5, '{"table":"public.customers","operation":"UPDATE","columns":{"first_name":{"new":{"q":"true","t":"text","v":"Hello"}},"id":{"new":{"q":"false","t":"integer","v":"1"}},"last_name":{"new":{"q":"true","t":"text","v":"Replica Friends"},"old":{"q":"true","t":"text","v":"Friends"}}}}');
SELECT d.n, g.partition_key,
       regexp_replace(g.record, '^\{"lsn":"[^"]*","time":"[^"]*",', '{') = d.record AS same_text,
       g.record ~ '^\{"lsn":"[0-9A-F]+/[0-9A-F]+","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)","table"' AS lsn_time_form,
       g.record::jsonb - 'lsn' - 'time' = d.record::jsonb AS same_fields
  FROM documented d FULL JOIN got g USING (n) ORDER BY d.n;
-- records of one row share a partition key, so they land on one shard, in order
SELECT partition_key, count(DISTINCT shard_id) AS shards,
       array_agg(data->>'operation' ORDER BY sequence_number) AS operations
  FROM customers_stream GROUP BY partition_key ORDER BY partition_key;

-- ROLLBACK sends nothing; ROLLBACK TO SAVEPOINT drops the records since the savepoint
SELECT count(*) AS before FROM customers_stream \gset
BEGIN;
INSERT INTO customers (first_name, last_name) VALUES ('Rolled', 'Back');
UPDATE customers SET last_name = 'Never' WHERE id = 1;
ROLLBACK;
SELECT count(*) - :before AS new_records FROM customers_stream;
BEGIN;
INSERT INTO customers (id, first_name) VALUES (10, 'kept');
SAVEPOINT s1;
INSERT INTO customers (id, first_name) VALUES (11, 'dropped');
SAVEPOINT s2;
UPDATE customers SET last_name = 'dropped too' WHERE id = 10;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO customers (id, first_name) VALUES (12, 'kept');
RELEASE SAVEPOINT s1;
COMMIT;
SELECT data->'columns'->'id'->'new'->>'v' AS id, data->>'operation' AS op
  FROM customers_stream WHERE (data->>'lsn')::pg_lsn > '0/0' AND data->'columns'->'id'->'new'->>'v' IN ('10', '11', '12')
 ORDER BY (data->>'lsn')::pg_lsn, sequence_number;

-- NULLs, booleans, numbers, arrays, quoting, a changed key; REPLICA IDENTITY FULL on DELETE
CREATE TABLE kinds (k int PRIMARY KEY, b boolean, n numeric, f float8, t text, d date, ts timestamptz,
    arr int[], j jsonb, bits bit(3), "Odd Name" varchar(10), bin bytea);
CREATE TRIGGER kinds_to_kinesis AFTER INSERT OR UPDATE OR DELETE ON kinds
    FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('customers_stream');
SET DateStyle = 'SQL, DMY';   -- the records still carry ISO text
INSERT INTO kinds VALUES (1, true, 1.50, 0.1, 'it''s <b> & "q"', '2024-01-15', '2024-01-15 10:00:00+00',
    '{1,2}', '{"a": [1]}', B'101', 'x', '\x00ff');
INSERT INTO kinds (k) VALUES (2);
INSERT INTO kinds (k, t, "Odd Name", arr, j) VALUES (4, E'a\\b,(c) "d"', '', '{1,NULL}', '"(,)"');
UPDATE kinds SET k = 3, b = false WHERE k = 2;
ALTER TABLE kinds REPLICA IDENTITY FULL;
UPDATE kinds SET t = NULL, n = 2 WHERE k = 1;
DELETE FROM kinds WHERE k = 1;
RESET DateStyle;
SELECT partition_key, data->>'operation' AS op, data->'columns' AS columns
  FROM customers_stream WHERE data->>'table' = 'public.kinds' ORDER BY (data->>'lsn')::pg_lsn, sequence_number;
SELECT data::text ~ '"v":"it''s \\u003cb\\u003e \\u0026 \\"q\\""' AS go_escaping
  FROM customers_stream WHERE data->>'table' = 'public.kinds' ORDER BY (data->>'lsn')::pg_lsn LIMIT 1;

-- A 1 000-row INSERT on a captured table: 1 000 records, two PutRecords requests at commit
CREATE TABLE bulk_rows (id int PRIMARY KEY, payload text);
CREATE FOREIGN TABLE bulk_stream (partition_key text, data text, shard_id text, sequence_number numeric)
    SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_bulk');
CREATE TRIGGER bulk_to_kinesis AFTER INSERT ON bulk_rows FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('bulk_stream');
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
INSERT INTO bulk_rows SELECT i, 'row ' || i FROM generate_series(1, 1000) i;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS put_records_requests;
SELECT count(*), count(DISTINCT partition_key), count(DISTINCT shard_id) AS shards FROM bulk_stream;

-- The Kinesis table itself: INSERT (partition_key, data) with text, json or bytea data
CREATE FOREIGN TABLE events (shard_id text, sequence_number numeric, arrival_time timestamptz,
    partition_key text, data text) SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_events');
CREATE FOREIGN TABLE events_json (sequence_number numeric, partition_key text, data json)
    SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_events');
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
BEGIN;
INSERT INTO events (partition_key, data) VALUES ('a', 'first'), ('b', 'héllo ✓'), ('a', '');
INSERT INTO events_json (partition_key, data) VALUES ('j', '{"n": 12345678901234567890.5, "l": []}');
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS sent_before_commit;
COMMIT;
-- ordering partition_key (the default): the second record of key 'a' waits for the next request
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS put_records_requests;
SELECT partition_key, data, octet_length(data) AS bytes, arrival_time > now() - interval '1 hour' AS recent
  FROM events ORDER BY sequence_number;
-- (events_json would read the text records as json too, so the json is read as text here)
SELECT data::json->'n' AS n, data::json->'l' AS l FROM events WHERE partition_key = 'j';
-- bytea data: any bytes; read into a text column they must be UTF-8 text
CREATE FOREIGN TABLE bin (partition_key text, data bytea) SERVER dynamodb_server
    OPTIONS (mapping 'kinesis', stream 'dlf_bin');
CREATE FOREIGN TABLE bin_as_text (partition_key text, data text) SERVER dynamodb_server
    OPTIONS (mapping 'kinesis', stream 'dlf_bin');
INSERT INTO bin VALUES ('z', '\x00ff10'), ('z', '');
SELECT partition_key, data FROM bin;
SELECT count(*) FROM bin_as_text;   -- the data is not read when not needed
\set VERBOSITY terse
SELECT data FROM bin_as_text;
\set VERBOSITY default
-- 1 000 rows of one partition key: 2 requests with ordering 'none'
CREATE FOREIGN TABLE events_fast (partition_key text, data text) SERVER dynamodb_server
    OPTIONS (mapping 'kinesis', stream 'dlf_events', ordering 'none');
SELECT (dynamo_lua_fdw.stats()->>'requests')::int AS before \gset
INSERT INTO events_fast SELECT 'same', 'event ' || i FROM generate_series(1, 1000) i;
SELECT (dynamo_lua_fdw.stats()->>'requests')::int - :before AS put_records_requests;
SELECT count(*) FROM events WHERE partition_key = 'same';

-- Where reading starts: conditions become the shard iterator; PostgreSQL checks them all.
-- "Kinesis Records" counts what was read.
SELECT max(sequence_number) AS last_seq FROM events WHERE partition_key = 'j' \gset
SELECT count(*) FROM events WHERE shard_id = 'shardId-000000000000' AND sequence_number > :last_seq;
SELECT count(*) FROM events WHERE sequence_number >= :last_seq AND partition_key IN ('j', 'same');
-- (sequence numbers vary from run to run: EXPLAIN shows them as N)
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        RETURN NEXT regexp_replace(l, '\d{20,}', 'N', 'g');
    END LOOP;
END $$;
SELECT explain_analyze('SELECT count(*) FROM events WHERE sequence_number > ' || :'last_seq');
SELECT explain_analyze('SELECT count(*) FROM events WHERE sequence_number >= ' || :'last_seq');
-- a sequence number of another shard: that shard is read from its start
SELECT count(*) FROM bulk_stream WHERE sequence_number > :last_seq;
SET DateStyle = ISO;   -- timestamps are read from their ISO text
SELECT count(*) FROM events WHERE arrival_time >= now() - interval '1 hour';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM events WHERE arrival_time > now() + interval '1 day';
EXPLAIN (COSTS OFF, VERBOSE) SELECT data FROM events WHERE arrival_time >= '2024-01-15 10:00:00+00';
RESET DateStyle;
-- under another DateStyle the condition is only checked by PostgreSQL
EXPLAIN (COSTS OFF) SELECT data FROM events WHERE arrival_time >= '2024-01-15 10:00:00+00';
EXPLAIN (COSTS OFF) SELECT * FROM events;
EXPLAIN (COSTS OFF) SELECT * FROM events WHERE shard_id = 'shardId-000000000000' AND sequence_number > 42;
EXPLAIN (COSTS OFF) SELECT * FROM bulk_stream WHERE shard_id IN ('shardId-000000000001', 'shardId-000000000002');
SELECT explain_analyze($$SELECT count(*) FROM bulk_stream WHERE shard_id IN ('shardId-000000000001', 'shardId-000000000002')$$);
SELECT shard_id, count(*) FROM bulk_stream GROUP BY 1 ORDER BY 1;
-- only a numeric sequence_number compares as Kinesis does ('9' > '10' as text)
CREATE FOREIGN TABLE events_text_seq (sequence_number text, data text) SERVER dynamodb_server
    OPTIONS (mapping 'kinesis', stream 'dlf_events');
EXPLAIN (COSTS OFF) SELECT * FROM events_text_seq WHERE sequence_number > '42';
SELECT count(*) FROM events WHERE shard_id = 'shardId-000000000009';

-- Errors
UPDATE events SET data = 'x';
DELETE FROM events;
INSERT INTO events (partition_key, data) VALUES (NULL, 'x');
INSERT INTO events (partition_key, data) VALUES ('k', NULL);
INSERT INTO events (partition_key, data) VALUES (repeat('k', 257), 'x');
INSERT INTO events (partition_key, data) VALUES ('k', repeat('x', 1048576));
INSERT INTO events (partition_key, data) VALUES ('k', 'x') ON CONFLICT DO NOTHING;
CREATE FOREIGN TABLE nostream (data text) SERVER dynamodb_server OPTIONS (mapping 'kinesis');
SELECT * FROM nostream;
CREATE FOREIGN TABLE badcol (data text, color text) SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_events');
SELECT * FROM badcol;
CREATE FOREIGN TABLE missing (partition_key text, data text) SERVER dynamodb_server OPTIONS (mapping 'kinesis', stream 'dlf_no_such_stream');
SELECT * FROM missing;
CREATE TRIGGER bad BEFORE INSERT ON bulk_rows FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('bulk_stream');
INSERT INTO bulk_rows VALUES (5000, 'x');
DROP TRIGGER bad ON bulk_rows;
-- a failing commit sends nothing of the transaction (the stream does not exist)
CREATE TABLE lost (id int PRIMARY KEY);
CREATE TRIGGER lost_to_kinesis AFTER INSERT ON lost FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('missing');
INSERT INTO lost VALUES (1);
SELECT count(*) FROM lost;

-- DDL audit, as pg_kinesis's event trigger: DDL becomes a row, the row a record
CREATE FOREIGN TABLE ddl_stream (partition_key text, data json) SERVER dynamodb_server
    OPTIONS (mapping 'kinesis', stream 'dlf_events');
CREATE TRIGGER ddl_to_kinesis AFTER INSERT ON dynamo_lua_fdw.kinesis_ddl_audit
    FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('public.ddl_stream');   -- qualified: DDL runs under any search_path
CREATE EVENT TRIGGER kinesis_record_ddl ON ddl_command_end EXECUTE FUNCTION dynamo_lua_fdw.kinesis_record_ddl();
ALTER TABLE customers ADD COLUMN fuzzy text;
DROP EVENT TRIGGER kinesis_record_ddl;
SELECT d->>'table' AS "table", d->>'operation' AS op, d->'columns'->'tag'->'new' AS tag,
       d->'columns'->'ddl_query'->'new'->>'v' AS ddl_query, d->'columns'->'id'->'new'->>'t' AS id_type,
       d->'columns'->'created_at'->'new'->>'t' AS created_at_type, d->'columns'->'db_user'->'new'->>'t' AS db_user_type
  FROM (SELECT data::json AS d FROM events WHERE partition_key LIKE 'dynamo_lua_fdw.kinesis_ddl_audit%') r;
