#!/usr/bin/env bash
# /docker-entrypoint-initdb.d/10-dynamo_lua_fdw.sh
#
# Run once by the postgres image's entrypoint when it initialises an empty data directory (against
# its socket-only temporary server; the usual libpq variables PGHOST/PGPORT are honoured). Creates,
# in $POSTGRES_DB as $POSTGRES_USER:
#   the extension dynamo_lua_fdw,
#   the server dynamodb_server   OPTIONS region   <- AWS_REGION (else AWS_DEFAULT_REGION), when set
#                                        endpoint <- AWS_ENDPOINT_URL_DYNAMODB, when set
#   the generic foreign table dynamodb (as in the README).
# DYNAMO_LUA_FDW_SCRIPT_PATH, when set, becomes ALTER SYSTEM SET dynamo_lua_fdw.script_path (a
# directory with the layout of the repository's lua/, e.g. a mounted copy).
#
# No user mapping and no secret is stored: the FDW takes credentials at run time from the server's
# environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or AWS_PROFILE with
# mounted ~postgres/.aws files, or container / instance credentials).
set -euo pipefail

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
endpoint=${AWS_ENDPOINT_URL_DYNAMODB:-}
script_path=${DYNAMO_LUA_FDW_SCRIPT_PATH:-}

if [ -n "$script_path" ] && [ ! -f "$script_path/dynamo_lua_fdw/init.lua" ]; then
    echo "10-dynamo_lua_fdw.sh: WARNING: $script_path/dynamo_lua_fdw/init.lua does not exist;" \
         "DYNAMO_LUA_FDW_SCRIPT_PATH must name a copy of the repository's lua/ directory" >&2
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
    --set region="$region" --set endpoint="$endpoint" --set script_path="$script_path" <<'SQL'
CREATE EXTENSION IF NOT EXISTS dynamo_lua_fdw;

SELECT format('CREATE SERVER IF NOT EXISTS dynamodb_server FOREIGN DATA WRAPPER dynamo_lua_fdw%s',
              coalesce(' OPTIONS (' || nullif(concat_ws(', ',
                  CASE WHEN :'region' <> '' THEN format('region %L', :'region') END,
                  CASE WHEN :'endpoint' <> '' THEN format('endpoint %L', :'endpoint') END), '') || ')', ''))
\gexec

CREATE FOREIGN TABLE IF NOT EXISTS dynamodb (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER dynamodb_server;

-- the setting is defined by the module: load it before ALTER SYSTEM names it
LOAD 'dynamo_lua_fdw';
SELECT format('ALTER SYSTEM SET dynamo_lua_fdw.script_path = %L', :'script_path')
 WHERE :'script_path' <> ''
\gexec
SELECT 'dynamo_lua_fdw.script_path = ' || :'script_path' AS reload WHERE :'script_path' <> '' AND pg_reload_conf();
SQL

echo "10-dynamo_lua_fdw.sh: created extension dynamo_lua_fdw, server dynamodb_server" \
     "(region: ${region:-from the environment at query time}, endpoint: ${endpoint:-the default})" \
     "and foreign table dynamodb${script_path:+; scripts from $script_path}"
