-- The extension loads; options are validated with hints listing the valid ones.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE EXTENSION dynamo_lua_fdw;
\dx dynamo_lua_fdw
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc FROM pg_foreign_data_wrapper;

CREATE SERVER dynamodb_server FOREIGN DATA WRAPPER dynamo_lua_fdw;
-- unknown options, per catalog
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (regoin 'us-east-1');
CREATE USER MAPPING FOR CURRENT_USER SERVER dynamodb_server OPTIONS (password 'x');
CREATE FOREIGN TABLE bad (a text) SERVER dynamodb_server OPTIONS (tabel 'x');
CREATE FOREIGN TABLE bad (a text OPTIONS (attr 'x')) SERVER dynamodb_server;
ALTER FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (ADD debug 'true');
-- bad values
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (max_retries 'ten');
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint 'localhost:8000');
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (consistent_read 'maybe');
CREATE FOREIGN TABLE bad (a text) SERVER dynamodb_server OPTIONS (mapping '../../etc/passwd');
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (write_concurrency '0');
CREATE FOREIGN TABLE bad (a text) SERVER dynamodb_server OPTIONS (scan_segments '64');
CREATE SERVER bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (router 'x/y');
-- good ones
CREATE SERVER good FOREIGN DATA WRAPPER dynamo_lua_fdw
  OPTIONS (region 'eu-west-1', endpoint 'http://localhost:8000', max_retries '3', consistent_read 'true');
CREATE USER MAPPING FOR CURRENT_USER SERVER good
  OPTIONS (access_key_id 'AKIDEXAMPLE', secret_access_key 'secret', session_token 'token');
CREATE FOREIGN TABLE good_t (a text OPTIONS (attribute 'A')) SERVER good
  OPTIONS (table 'T', consistent_read 'false', readonly 'true');
-- only superusers choose mapping scripts or CA files
CREATE ROLE dlf_plain;
GRANT USAGE ON FOREIGN SERVER good TO dlf_plain;
GRANT CREATE ON SCHEMA public TO dlf_plain;
SET ROLE dlf_plain;
CREATE FOREIGN TABLE plain_t (a text) SERVER good OPTIONS (mapping 'generic');
CREATE FOREIGN TABLE plain_t (a text) SERVER good OPTIONS (table 'x');
RESET ROLE;
-- the GUCs are superuser-only
SET ROLE dlf_plain;
SET dynamo_lua_fdw.script_path = '/tmp';
SET dynamo_lua_fdw.lua_memory_limit = '1GB';
RESET ROLE;
SHOW dynamo_lua_fdw.lua_memory_limit;
-- a read-only table refuses writes
INSERT INTO good_t VALUES ('x');
-- a server a non-superuser owns never signs with the database server's own credentials
GRANT USAGE ON FOREIGN DATA WRAPPER dynamo_lua_fdw TO dlf_plain;
SET ROLE dlf_plain;
CREATE SERVER mine FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint 'http://127.0.0.1:1', max_retries '0');
CREATE FOREIGN TABLE mine_t (k text) SERVER mine OPTIONS (table 'anything');
SELECT * FROM mine_t;
CREATE USER MAPPING FOR CURRENT_USER SERVER mine OPTIONS (access_key_id 'AKIDPLAIN', secret_access_key 'plain-secret');
DO $$ BEGIN PERFORM * FROM mine_t;
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'with a user mapping it signs and connects: %', SQLSTATE; END $$;
RESET ROLE;
DROP OWNED BY dlf_plain;
DROP ROLE dlf_plain;
DROP SERVER good CASCADE;
