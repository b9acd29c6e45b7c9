# The Lua host: errors with file:line, the memory cap, hot reload, cancel while waiting on the network.
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DlfTest;

my $root = $ENV{DLF_ROOT} or die "DLF_ROOT is not set";
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;

# A scratch script directory: the installed scripts plus the probe mapping.
my $scripts = PostgreSQL::Test::Utils::tempdir();
system("cp -r $sharedir/dynamo_lua_fdw/. $scripts/") == 0 or die "copy failed";
system("cp $root/t/fixtures/mappings/probe.lua $scripts/dynamo_lua_fdw/mappings/") == 0 or die "copy failed";

my $node = PostgreSQL::Test::Cluster->new('lua_host');
$node->init;
$node->append_conf('postgresql.conf', "dynamo_lua_fdw.script_path = '$scripts'\n");
$node->start;

# A listener that accepts connections (the kernel does) but never answers.
my $silent = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
  or die "listen: $!";
my $silent_port = $silent->sockport;

$node->safe_psql('postgres', qq{
CREATE EXTENSION dynamo_lua_fdw;
CREATE SERVER probe FOREIGN DATA WRAPPER dynamo_lua_fdw;
CREATE SERVER silent FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint 'http://127.0.0.1:$silent_port');
CREATE FOREIGN TABLE probe_value (v text) SERVER probe OPTIONS (mapping 'probe');
CREATE FOREIGN TABLE probe_error (v text) SERVER probe OPTIONS (mapping 'probe');
CREATE FOREIGN TABLE probe_structured (v text) SERVER probe OPTIONS (mapping 'probe');
CREATE FOREIGN TABLE probe_memory (v text) SERVER probe OPTIONS (mapping 'probe');
CREATE FOREIGN TABLE probe_sandbox (v text) SERVER probe OPTIONS (mapping 'probe');
CREATE FOREIGN TABLE hanging (oid text, region text, table_name text, partition_key text,
                              sort_key text, document json) SERVER silent;
});

sub psql_session { (DlfTest::psql_verbose($node, $_[0]))[0, 1] }

# A Lua error names the script's file and line; the next query in the same session works.
my ($out, $err) = psql_session("SELECT * FROM probe_error; SELECT v FROM probe_value;");
like($err, qr/ERROR:  HV000: boom from the probe script/, 'a Lua error becomes an ERROR with SQLSTATE HV000');
like($err, qr{CONTEXT:  Lua script dynamo_lua_fdw/mappings/probe\.lua:\d+}, 'the error names file:line');
is($out, 'one', 'the session is usable after a Lua error');

# A script may choose its SQLSTATE and hint.
($out, $err) = psql_session("SELECT * FROM probe_structured");
like($err, qr/ERROR:  22012: custom failure/, 'a structured error keeps its SQLSTATE');
like($err, qr/HINT:  A custom hint\./, 'and its hint');
like($err, qr{CONTEXT:  Lua script dynamo_lua_fdw/mappings/probe\.lua:\d+}, 'and points at the raising line');

# The sandbox: no files, processes, environment or C modules for scripts; modules only from the script path.
($out, $err) = psql_session("SELECT v FROM probe_sandbox");
is($out, 'io=nil os.execute=nil os.getenv=nil package.loadlib=nil dofile=nil loadfile=nil '
  . 'ffi=refused outside=refused cjson=loaded os.time=function', 'scripts run sandboxed');

# The memory cap: a clean ERROR, and the session stays usable.
($out, $err) = psql_session("SET dynamo_lua_fdw.lua_memory_limit = '32MB'; SELECT * FROM probe_memory; SELECT v FROM probe_value;");
like($err, qr/ERROR:  53200: Lua memory limit of 32768 kB exceeded/, 'the memory cap gives an out-of-memory ERROR');
is($out, 'one', 'the session is usable after hitting the memory cap');

# Hot reload: a changed script changes the next query of the same backend.
($out, $err) = psql_session(qq{SELECT pg_backend_pid() AS pid1 \\gset
SELECT v FROM probe_value;
\\! sed -i 's/VERSION = "one"/VERSION = "second"/' $scripts/dynamo_lua_fdw/mappings/probe.lua
SELECT v FROM probe_value;
SELECT pg_backend_pid() = :pid1 AS same_backend;});
is($out, "one\nsecond\nt", 'a script changed on disk is used by the next query in the same backend');
($out, $err) = psql_session(qq{\\! sed -i 's/VERSION = "second"/VERSION = = "broken"/' $scripts/dynamo_lua_fdw/mappings/probe.lua
SELECT v FROM probe_value;
\\! sed -i 's/VERSION = = "broken"/VERSION = "third"/' $scripts/dynamo_lua_fdw/mappings/probe.lua
SELECT v FROM probe_value;});
like($err, qr{ERROR:  HV000: .*unexpected symbol.*\n(.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/probe\.lua:\d+}, 'a syntax error names file:line');
is($out, 'third', 'a fixed script is picked up again');

# A module that fails while loading (here: a dependency is missing) is loaded afresh once it can be.
system("printf 'return require(\"dynamo_lua_fdw.late_helper\")\\n' > $scripts/dynamo_lua_fdw/mappings/needs_helper.lua") == 0 or die;
$node->safe_psql('postgres', "CREATE FOREIGN TABLE probe_late (v text) SERVER probe OPTIONS (mapping 'needs_helper')");
($out, $err) = psql_session(qq{SELECT v FROM probe_late;
\\! cp $scripts/dynamo_lua_fdw/mappings/probe.lua $scripts/dynamo_lua_fdw/late_helper.lua
SELECT v FROM probe_late;});
like($err, qr/module 'dynamo_lua_fdw.late_helper' not found/, 'a missing dependency is an ERROR');
like($out, qr/^(one|second|third)$/, 'the same backend loads the script once its dependency exists');

# check_script validates a script without using it.
($out, $err) = psql_session("SELECT dynamo_lua_fdw.check_script('generic'); SELECT dynamo_lua_fdw.check_script('probe');");
is($out, "dynamo_lua_fdw/mappings/generic.lua: defines plan_scan, begin_scan, rescan, fetch, end_scan, explain, "
  . "begin_modify, insert, update, delete\n"
  . "dynamo_lua_fdw/mappings/probe.lua: defines plan_scan, begin_scan, rescan, fetch, end_scan, explain; "
  . "missing begin_modify, insert, update, delete", 'check_script reports what a script defines');
system("printf 'local M = {}\\nfunction M.plan_scan(\\n' > $scripts/dynamo_lua_fdw/mappings/broken.lua") == 0 or die;
($out, $err) = psql_session("SELECT dynamo_lua_fdw.check_script('broken'); SELECT dynamo_lua_fdw.check_script('nonesuch');");
like($err, qr{ERROR:  HV000: .*\n(.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/broken\.lua:\d+}, 'check_script names file:line of a syntax error');
like($err, qr/ERROR:  58P01: mapping script "nonesuch" not found/, 'check_script of a missing script');

# Cancel: statement_timeout ends a request to a server that never answers, within 2 s.
my $start = time();
($out, $err) = psql_session("SET statement_timeout = '1s'; SELECT count(*) FROM hanging WHERE region = 'us-east-1' AND table_name = 't'; RESET statement_timeout; SELECT 'alive';");
my $elapsed = time() - $start;
like($err, qr/57014: canceling statement due to statement timeout/, 'statement_timeout cancels a hanging request');
cmp_ok($elapsed, '<', 2.5, "cancelled in under 2 s (psql included: ${elapsed}s)");
is($out, 'alive', 'the session is usable after the cancel');

# pg_cancel_backend works the same way.
my ($bout, $berr) = ('', '');
my $hang = IPC::Run::start(
    ['psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
     "SELECT count(*) FROM hanging WHERE region = 'us-east-1' AND table_name = 'cancel_me'"],
    '>', \$bout, '2>', \$berr);
my $waiting = "FROM pg_stat_activity WHERE query LIKE '%cancel_me%' AND pid <> pg_backend_pid()";
$node->poll_query_until('postgres', "SELECT count(*) = 1 $waiting") or die "the query did not start";
sleep 1;
$start = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend(pid) $waiting");
$hang->finish;
$elapsed = time() - $start;
like($berr, qr/canceling statement due to user request/, 'pg_cancel_backend ends a hanging request');
cmp_ok($elapsed, '<', 2, "within 2 s (${elapsed}s)");

$node->stop;
done_testing();
