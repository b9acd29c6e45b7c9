/* dynamo_lua_fdw 0.1 */

-- complain if the script is sourced in psql rather than by CREATE EXTENSION
\echo Use "CREATE EXTENSION dynamo_lua_fdw" to load this file. \quit

CREATE FUNCTION dynamo_lua_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION dynamo_lua_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER dynamo_lua_fdw
  HANDLER dynamo_lua_fdw_handler
  VALIDATOR dynamo_lua_fdw_validator;

-- This backend's client counters: requests, new connections, retries, throttling.
CREATE FUNCTION stats()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dynamo_lua_fdw_stats'
LANGUAGE C VOLATILE;

-- Loads a mapping script (dynamo_lua_fdw/mappings/<name>.lua under dynamo_lua_fdw.script_path)
-- and checks what it defines, without using it for a table. Errors carry the script's file:line.
CREATE FUNCTION check_script(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'dynamo_lua_fdw_check_script'
LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION check_script(text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Change capture into Kinesis in pg_kinesis's record format (docs/STREAMS.md).
--
--   CREATE TRIGGER customers_to_kinesis AFTER INSERT OR UPDATE OR DELETE ON customers
--     FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('customers_stream');
--
-- One record per changed row, INSERTed into the named Kinesis foreign table (columns
-- partition_key and data: json, text or bytea), so it is buffered and sent at COMMIT
-- with the transaction's other records, in order, and never on ROLLBACK.
-- Values are the columns' output text under fixed settings (ISO dates, full float
-- precision, hex bytea), as test_decoding in a walsender would print them.
-- ---------------------------------------------------------------------------

-- One changed row as pg_kinesis's JSON text: lsn, time, table, operation, columns, with
-- column names sorted and "<", ">", "&" escaped as Go's encoding/json does.
-- Also returns the partition key: the table and its primary key values.
CREATE FUNCTION kinesis_change_record(relid oid, operation text, new_row anyelement, old_row anyelement,
                                      OUT partition_key text, OUT record text)
LANGUAGE plpgsql
SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres' SET extra_float_digits = 1 SET bytea_output = 'hex'
AS $fn$
DECLARE
    rel text;
    ident "char";
    names text[];          -- quote_ident(attname), in attnum order
    plain text[];          -- attname
    types text[];          -- format_type, as test_decoding prints it
    unquoted boolean[];    -- the types test_decoding prints without quotes
    is_bool boolean[];
    key_pos int[];         -- positions (in names) of the replica identity's columns
    pk_pos int[];          -- positions of the primary key's columns, in index order
    new_v text[];
    old_v text[];
    has_old boolean := false;
    old_in int[];          -- positions whose old value goes out (test_decoding's old-key)
    cols text := '';
    entry text;
    i int;
    v text;
    ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
    SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relreplident
      INTO rel, ident
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = relid;
    SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum),
           pg_catalog.array_agg(a.attname::text ORDER BY a.attnum),
           pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, NULL) ORDER BY a.attnum),
           pg_catalog.array_agg(a.atttypid IN (20, 21, 23, 26, 700, 701, 1700, 16) ORDER BY a.attnum),
           pg_catalog.array_agg(a.atttypid = 16 ORDER BY a.attnum)
      INTO names, plain, types, unquoted, is_bool
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = relid AND a.attnum > 0 AND NOT a.attisdropped;
    names := coalesce(names, '{}');
    -- the replica identity (as logical decoding logs it) and the primary key
    SELECT pg_catalog.array_agg(p.pos ORDER BY k.ord) INTO key_pos
      FROM pg_catalog.pg_index x
           CROSS JOIN LATERAL pg_catalog.unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN (SELECT a.attnum, pg_catalog.row_number() OVER (ORDER BY a.attnum) AS pos
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = relid AND a.attnum > 0 AND NOT a.attisdropped) p ON p.attnum = k.attnum
     WHERE x.indrelid = relid AND ((ident = 'd' AND x.indisprimary) OR (ident = 'i' AND x.indisreplident));
    SELECT pg_catalog.array_agg(p.pos ORDER BY k.ord) INTO pk_pos
      FROM pg_catalog.pg_index x
           CROSS JOIN LATERAL pg_catalog.unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN (SELECT a.attnum, pg_catalog.row_number() OVER (ORDER BY a.attnum) AS pos
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = relid AND a.attnum > 0 AND NOT a.attisdropped) p ON p.attnum = k.attnum
     WHERE x.indrelid = relid AND x.indisprimary;
    IF ident = 'f' THEN
        SELECT pg_catalog.array_agg(g) INTO key_pos FROM pg_catalog.generate_series(1, pg_catalog.cardinality(names)) g;
    END IF;
    key_pos := coalesce(key_pos, '{}'); pk_pos := coalesce(pk_pos, '{}');

    IF operation <> 'DELETE' THEN
        new_v := dynamo_lua_fdw.kinesis_fields(new_row::text);
    END IF;
    IF operation <> 'INSERT' THEN
        old_v := dynamo_lua_fdw.kinesis_fields(old_row::text);
    END IF;
    -- test_decoding's old-key: a DELETE's identity columns; an UPDATE's all columns under
    -- REPLICA IDENTITY FULL, else its identity columns when one of them changed; NULLs left out
    IF operation = 'DELETE' THEN
        has_old := true;
    ELSIF operation = 'UPDATE' THEN
        has_old := ident = 'f';
        FOREACH i IN ARRAY key_pos LOOP
            IF old_v[i] IS DISTINCT FROM new_v[i] THEN has_old := true; END IF;
        END LOOP;
    END IF;
    old_in := '{}';
    IF has_old THEN
        FOREACH i IN ARRAY key_pos LOOP
            IF old_v[i] IS NOT NULL THEN old_in := old_in || i; END IF;
        END LOOP;
    END IF;

    -- "columns": names in byte order, as Go's encoding/json sorts map keys
    FOR i IN SELECT g.i FROM pg_catalog.generate_series(1, pg_catalog.cardinality(names)) AS g(i)
               ORDER BY names[g.i] COLLATE "C" LOOP
        entry := NULL;
        IF operation <> 'DELETE' THEN
            entry := '"new":' || dynamo_lua_fdw.kinesis_value(new_v[i], types[i], unquoted[i], is_bool[i]);
            -- the old value goes out where its text differs from the new one's (as pg_kinesis compares)
            IF i = ANY (old_in) AND dynamo_lua_fdw.kinesis_text(old_v[i], is_bool[i])
                                    <> dynamo_lua_fdw.kinesis_text(new_v[i], is_bool[i]) THEN
                entry := entry || ',"old":' || dynamo_lua_fdw.kinesis_value(old_v[i], types[i], unquoted[i], is_bool[i]);
            END IF;
        ELSIF i = ANY (old_in) THEN
            entry := '"old":' || dynamo_lua_fdw.kinesis_value(old_v[i], types[i], unquoted[i], is_bool[i]);
        END IF;
        IF entry IS NOT NULL THEN
            cols := cols || CASE WHEN cols = '' THEN '' ELSE ',' END
                    || pg_catalog.to_json(names[i])::text || ':{' || entry || '}';
        END IF;
    END LOOP;

    record := '{"lsn":' || pg_catalog.to_json(pg_catalog.pg_current_wal_insert_lsn()::text)::text
        || ',"time":"' || pg_catalog.to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN pg_catalog.to_char(ts, 'TZH:TZM') IN ('+00:00', '-00:00') THEN 'Z'
                ELSE pg_catalog.to_char(ts, 'TZH:TZM') END
        || '","table":' || pg_catalog.to_json(rel)::text
        || ',"operation":' || pg_catalog.to_json(operation)::text
        || ',"columns":{' || cols || '}}';
    -- Go's encoding/json escapes these inside strings; outside strings they cannot occur
    record := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(record,
        '&', E'\\u0026'), '<', E'\\u003c'), '>', E'\\u003e');
    IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
        record := pg_catalog.replace(pg_catalog.replace(record,
            pg_catalog.chr(8232), E'\\u2028'), pg_catalog.chr(8233), E'\\u2029');
    END IF;

    -- partition key: pg_kinesis's <schema>.<table><column>q|n<value> per primary key column
    partition_key := rel;
    FOREACH i IN ARRAY pk_pos LOOP
        v := CASE WHEN operation = 'DELETE' THEN old_v[i] ELSE new_v[i] END;
        partition_key := partition_key || plain[i]
            || CASE WHEN v IS NULL OR unquoted[i] THEN 'n' ELSE 'q' END || dynamo_lua_fdw.kinesis_text(v, is_bool[i]);
    END LOOP;
    partition_key := pg_catalog.left(partition_key, 256);   -- Kinesis's limit
END
$fn$;

-- The fields of a row's text (record_out: "(1,,"a ""b""",x)") as their output texts, NULL for NULL:
-- each column's own output function made them (under the caller's settings), so no query per column.
-- record_out quotes a field holding any of "\(), or white space, or empty, doubling " and \ inside.
CREATE FUNCTION kinesis_fields(row_text text)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT pg_catalog.array_agg(CASE WHEN m[1] IS NOT NULL THEN pg_catalog.regexp_replace(m[1], E'(["\\\\])\\1', E'\\1', 'g')
                                     WHEN m[2] = '' THEN NULL ELSE m[2] END ORDER BY n)
      FROM pg_catalog.regexp_matches(row_text, E'[(,](?:"((?:[^"\\\\]|""|\\\\.)*)"|([^,()"\\\\]*))', 'g')
           WITH ORDINALITY AS r(m, n)
$fn$;

-- A value's text as test_decoding prints it (and pg_kinesis passes it on): NULL is "null",
-- booleans "true"/"false", anything else its output text.
CREATE FUNCTION kinesis_text(v text, is_bool boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE WHEN v IS NULL THEN 'null'
                WHEN is_bool THEN CASE v WHEN 't' THEN 'true' ELSE 'false' END
                ELSE v END
$fn$;

-- One value as pg_kinesis writes it: {"q":"true|false","t":"<type>","v":"<text>"}; q is
-- "false" for what test_decoding prints unquoted (numbers, booleans, NULL).
CREATE FUNCTION kinesis_value(v text, typname text, unquoted boolean, is_bool boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT '{"q":"' || CASE WHEN v IS NULL OR unquoted THEN 'false' ELSE 'true' END
        || '","t":' || pg_catalog.to_json(typname)::text
        || ',"v":' || pg_catalog.to_json(dynamo_lua_fdw.kinesis_text(v, is_bool))::text || '}'
$fn$;

CREATE FUNCTION kinesis_capture()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    stream regclass;
    data_type text;
    r record;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE', 'DELETE') THEN
        RAISE EXCEPTION 'dynamo_lua_fdw.kinesis_capture() must run AFTER INSERT, UPDATE or DELETE FOR EACH ROW'
            USING ERRCODE = '39P01',
                  HINT = 'CREATE TRIGGER ... AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture(''stream_table'')';
    END IF;
    IF TG_NARGS <> 1 THEN
        RAISE EXCEPTION 'dynamo_lua_fdw.kinesis_capture() takes one argument, the Kinesis foreign table, not %', TG_NARGS
            USING ERRCODE = '39P01',
                  HINT = 'CREATE TRIGGER ... EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture(''stream_table'')';
    END IF;
    stream := TG_ARGV[0]::regclass;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO data_type
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = stream AND a.attname = 'data' AND NOT a.attisdropped;
    IF data_type IS NULL THEN
        RAISE EXCEPTION 'table % has no column "data" for change records', stream
            USING ERRCODE = '42703',
                  HINT = 'Capture into a Kinesis foreign table with the columns partition_key and data (json, text or bytea).';
    END IF;
    -- the row not there (OLD of an INSERT, NEW of a DELETE) is passed as the other: unused
    SELECT * INTO r FROM dynamo_lua_fdw.kinesis_change_record(TG_RELID, TG_OP,
        CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END, CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END);
    EXECUTE pg_catalog.format('INSERT INTO %s (partition_key, data) VALUES ($1, %s)', stream,
        CASE WHEN data_type = 'bytea' THEN 'pg_catalog.convert_to($2, ''UTF8'')'
             ELSE pg_catalog.format('CAST($2 AS %s)', data_type) END)
        USING r.partition_key, r.record;
    RETURN NULL;
END
$fn$;

-- DDL audit in the spirit of pg_kinesis's event trigger: each DDL command becomes a row here
-- (and, with a kinesis_capture trigger on this table, a record in a DDL stream).
--   CREATE TRIGGER ddl_to_kinesis AFTER INSERT ON dynamo_lua_fdw.kinesis_ddl_audit
--     FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('ddl_stream');
--   CREATE EVENT TRIGGER kinesis_record_ddl ON ddl_command_end
--     EXECUTE FUNCTION dynamo_lua_fdw.kinesis_record_ddl();
CREATE TABLE kinesis_ddl_audit (
    id          bigserial PRIMARY KEY,
    created_at  timestamp DEFAULT current_timestamp,
    db_user     varchar(64) DEFAULT current_user,
    tag         varchar(64),
    ddl_query   text
);

CREATE FUNCTION kinesis_record_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO dynamo_lua_fdw.kinesis_ddl_audit (tag, ddl_query) VALUES (tg_tag, pg_catalog.current_query());
END
$fn$;

-- Tenants: one schema per tenant, its tables imported from the server (shard) that holds them,
-- with the tenant's table prefix stripped.  Attaching a tenant that is attached already (to
-- move it to another shard) replaces its foreign tables.  Returns the tables imported.
--   SELECT dynamo_lua_fdw.attach_tenant('tenant_a', 'shard_1', table_prefix => 'tenant_a-');
CREATE FUNCTION attach_tenant(tenant name, server name, table_prefix text DEFAULT NULL)
RETURNS SETOF name
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                   WHERE s.srvname = server AND w.fdwname = 'dynamo_lua_fdw') THEN
        RAISE EXCEPTION 'server "%" is not a dynamo_lua_fdw server', server
            USING ERRCODE = '42704', HINT = 'Create it with CREATE SERVER ... FOREIGN DATA WRAPPER dynamo_lua_fdw.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = tenant) THEN
        PERFORM dynamo_lua_fdw.detach_tenant(tenant);
    END IF;
    EXECUTE format('CREATE SCHEMA %I', tenant);
    EXECUTE format('IMPORT FOREIGN SCHEMA dynamodb FROM SERVER %I INTO %I OPTIONS (table_prefix %L)',
                   server, tenant, coalesce(table_prefix, tenant || '-'));
    RETURN QUERY SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = tenant ORDER BY 1;
END
$fn$;

-- Drops a tenant's schema with its dynamo_lua_fdw foreign tables; anything else in the schema
-- (a view, a local table) makes it an error, so nothing of the user's is dropped.
CREATE FUNCTION detach_tenant(tenant name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT c.oid::regclass AS rel FROM pg_class c
             JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
             JOIN pg_foreign_server s ON s.oid = ft.ftserver
             JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
             WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = tenant)
               AND w.fdwname = 'dynamo_lua_fdw' LOOP
        EXECUTE format('DROP FOREIGN TABLE %s', t.rel);
    END LOOP;
    EXECUTE format('DROP SCHEMA %I', tenant);
END
$fn$;
