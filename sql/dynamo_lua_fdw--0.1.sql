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
