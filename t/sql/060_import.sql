-- IMPORT FOREIGN SCHEMA: tables, keys, sampled attribute types, exact names through options.
-- (script file:line in CONTEXT is checked by t/001_lua_host.pl)
\set SHOW_CONTEXT never
CREATE SCHEMA imported;
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_orders","Item":{"PK":{"S":"USER#1"},"SK":{"N":"1"},"status":{"S":"open"},"total":{"N":"12.50"},"Order-Date":{"S":"2024-01-01"},"user":{"S":"ann"},"mixed":{"N":"1"}}}' > /dev/null
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"dlf_orders","Item":{"PK":{"S":"USER#1"},"SK":{"N":"2"},"status":{"S":"shipped"},"total":{"N":"99"},"mixed":{"S":"one"},"Items":{"L":[{"S":"book"}]}}}' > /dev/null
\! node "$DLF_ROOT/t/bin/ddb.js" "$DDB_ENDPOINT" call PutItem '{"TableName":"tenant_a-Users","Item":{"UserId":{"S":"u1"},"FirstName":{"S":"Ernest"}}}' > /dev/null
IMPORT FOREIGN SCHEMA dynamodb LIMIT TO (dlf_orders, dlf_binkeys)
  FROM SERVER dynamodb_server INTO imported OPTIONS (sample_size '10');
\d imported.dlf_orders
\d imported.dlf_binkeys
SELECT pk, sk, status, total, order_date, "user", mixed FROM imported.dlf_orders ORDER BY sk;
SELECT sk, items FROM imported.dlf_orders ORDER BY sk;
-- a prefix is stripped from the local names; the raw item column can be renamed
CREATE SCHEMA tenant_a;
IMPORT FOREIGN SCHEMA dynamodb FROM SERVER dynamodb_server INTO tenant_a
  OPTIONS (table_prefix 'tenant_a-', raw_item_column 'raw');
\d tenant_a."Users"
SELECT userid, firstname, raw FROM tenant_a."Users";
-- EXCEPT, and bad options
CREATE SCHEMA rest;
IMPORT FOREIGN SCHEMA dynamodb EXCEPT (fdwtest2, dlf_pages, dlf_types, dlf_xact, dlf_typed, dlf_grid, dlf_bulk, "tenant_a-Users")
  FROM SERVER dynamodb_server INTO rest OPTIONS (sample_size '0', raw_item_column '');
SELECT foreign_table_name FROM information_schema.foreign_tables WHERE foreign_table_schema = 'rest'
   AND foreign_table_name IN ('dlf_binkeys', 'dlf_numkeys', 'dlf_orders', 'fdwtest2', 'dlf_typed') ORDER BY 1;
IMPORT FOREIGN SCHEMA dynamodb FROM SERVER dynamodb_server INTO rest OPTIONS (sampel_size '1');
IMPORT FOREIGN SCHEMA dynamodb FROM SERVER dynamodb_server INTO rest OPTIONS (sample_size 'many');
