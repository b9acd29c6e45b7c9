#!/usr/bin/env bash
# `make demo`: a throwaway PostgreSQL and DynamoDB Local with sample data, and the generic
# dynamodb table at work. Everything it starts is stopped when it ends.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DLF_ROOT"

work=$(dlf_work_dir)
trap 'dlf_as_pg "$PGBIN/pg_ctl" -D "$work/pgdata" -m fast stop >/dev/null 2>&1 || true; dlf_cleanup; rm -rf "$work"' EXIT INT TERM

dlf_start_dynamodb "$work/dynamodb.log"
echo "DynamoDB Local at $DDB_ENDPOINT"
node t/bin/ddb.js "$DDB_ENDPOINT" create-tables t/fixtures/tables.json

pgport=$(dlf_free_port)
dlf_as_pg "$PGBIN/initdb" -D "$work/pgdata" -A trust -U postgres >/dev/null
# shellcheck disable=SC2046
dlf_as_pg env $(dlf_aws_env) "$PGBIN/pg_ctl" -D "$work/pgdata" -l "$work/postgres.log" -w \
    -o "-p $pgport -k $work -c listen_addresses=''" start >/dev/null
echo "PostgreSQL at port $pgport (socket in $work)"

dlf_as_pg "$PGBIN/psql" -h "$work" -p "$pgport" -U postgres -X -v ON_ERROR_STOP=1 -e <<'SQL'
CREATE EXTENSION dynamo_lua_fdw;
CREATE SERVER dynamodb_server FOREIGN DATA WRAPPER dynamo_lua_fdw;
CREATE FOREIGN TABLE dynamodb (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER dynamodb_server;
-- 2004 sample items, written at commit with BatchWriteItem
INSERT INTO dynamodb (region, table_name, document)
SELECT 'us-east-1', 'fdwtest2',
       json_build_object('pkey', 'key' || i, 'skey', 'skey' || j, 'text', 'hello ' || i)
FROM generate_series(1, 1002) i, generate_series(1, 2) j;
SELECT partition_key, sort_key, document FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' LIMIT 3;
SELECT oid, document->>'text' AS text FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877';
EXPLAIN (COSTS OFF) SELECT * FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877';
SELECT dynamo_lua_fdw.stats();
SQL
echo "Demo done; stopping PostgreSQL and DynamoDB Local."
