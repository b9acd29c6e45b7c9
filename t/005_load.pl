# Load (issue 10): 8 pgbench clients mix writes and reads on the generic table for 60 s (DLF_LOAD_SECONDS),
# each transaction also logging into a local table, so that afterwards DynamoDB must hold exactly the
# items whose inserts committed and whose deletes did not. Meanwhile one long-lived backend loops over
# reads, writes, failing and retried requests (through t/bin/fault-proxy.js); its memory (RssAnon, the
# private part of VmRSS; PostgreSQL's memory contexts) and open sockets, and those of the pgbench backends,
# must not grow.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time sleep);
use DlfTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{DLF_ROOT} or die "DLF_ROOT is not set";
my $ddb = $ENV{DDB_ENDPOINT} or die "DDB_ENDPOINT is not set";
my $seconds = $ENV{DLF_LOAD_SECONDS} // 60;
my $clients = 8;
my $started = time();

# ---------- the fault proxy, for the long-lived backend ----------
my $fault_proxy = DlfTest::start_fault_proxy($root, $ddb);
my $proxy = $fault_proxy->{h};
my $purl = "http://127.0.0.1:$fault_proxy->{port}";
sub proxy_post { DlfTest::proxy_post($fault_proxy, @_) }
sub counts { DlfTest::proxy_counts($fault_proxy) }

sub ddb { DlfTest::ddb($ddb, @_) }
# The keys of every item of a table, "pk/sk" (consistent, all pages).
sub ddb_keys {
    my ($table) = @_;
    my (@keys, $start);
    for (1 .. 10000) {
        my $r = ddb('Scan', { TableName => $table, ConsistentRead => JSON::PP::true, ProjectionExpression => 'pk, sk',
            ($start ? (ExclusiveStartKey => $start) : ()) });
        push @keys, map { "$_->{pk}{S}/$_->{sk}{S}" } @{ $r->{Items} };
        $start = $r->{LastEvaluatedKey} or last;
    }
    return \@keys;
}

my ($L, $SMALL) = ("dlf_load_$$", "dlf_load_small_$$");
for my $t ($L, $SMALL) {
    ddb('CreateTable', { TableName => $t, BillingMode => 'PAY_PER_REQUEST',
        AttributeDefinitions => [{ AttributeName => 'pk', AttributeType => 'S' }, { AttributeName => 'sk', AttributeType => 'S' }],
        KeySchema => [{ AttributeName => 'pk', KeyType => 'HASH' }, { AttributeName => 'sk', KeyType => 'RANGE' }] });
}
ddb('BatchWriteItem', { RequestItems => { $SMALL => [map {
    { PutRequest => { Item => { pk => { S => 'p' . ($_ % 4) }, sk => { S => "s$_" }, v => { N => "$_" }, pad => { S => 'x' x 2000 } } } }
} 1 .. 20] } });

# ---------- the node ----------
my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\nmax_connections = 30\nshared_buffers = 32MB\n"
  . "log_statement = 'none'\nlog_min_messages = warning\n");
$node->start;
$node->safe_psql('postgres', <<"EOS");
CREATE EXTENSION dynamo_lua_fdw;
CREATE SERVER direct FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$ddb');
CREATE SERVER faulty FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', max_retries '3');
CREATE FOREIGN TABLE dynamodb (oid text, region text, table_name text, partition_key text, sort_key text,
    document json NOT NULL) SERVER direct;
CREATE FOREIGN TABLE faulty_g (oid text, region text, table_name text, partition_key text, sort_key text,
    document json NOT NULL) SERVER faulty;
CREATE FOREIGN TABLE small_t (pk text NOT NULL, sk text NOT NULL, v integer) SERVER faulty OPTIONS (table '$SMALL');
CREATE SEQUENCE load_seq;
CREATE TABLE load_log (k bigint PRIMARY KEY, client int NOT NULL, deleted boolean NOT NULL DEFAULT false);
EOS

# ---------- pgbench scripts ----------
my $dir = PostgreSQL::Test::Utils::tempdir();
my $where = "region = 'us-east-1' AND table_name = '$L'";
my %script = (
    # a new item under the client's partition, and its line in the log, in one transaction
    'insert.sql' => "SELECT nextval('load_seq') AS k \\gset\nBEGIN;\n"
      . "INSERT INTO dynamodb (region, table_name, partition_key, sort_key, document) VALUES "
      . "('us-east-1', '$L', 'c' || :client_id, (:k)::text, json_build_object('client', :client_id, 'k', :k, 'pad', repeat('x', 200)));\n"
      . "INSERT INTO load_log (k, client) VALUES (:k, :client_id);\nCOMMIT;\n",
    # the client's partition (Query), and its newest item (GetItem through a parameter)
    'select.sql' => "SELECT count(*) FROM dynamodb WHERE $where AND partition_key = 'c' || :client_id;\n"
      . "SELECT document->>'k' FROM dynamodb WHERE $where AND partition_key = 'c' || :client_id "
      . "AND sort_key = (SELECT max(k)::text FROM load_log WHERE client = :client_id AND NOT deleted);\n",
    # the client's oldest item, and its line in the log, in one transaction
    'delete.sql' => "SELECT coalesce(min(k), -1) AS d FROM load_log WHERE client = :client_id AND NOT deleted \\gset\nBEGIN;\n"
      . "DELETE FROM dynamodb WHERE $where AND partition_key = 'c' || :client_id AND sort_key = (:d)::text;\n"
      . "UPDATE load_log SET deleted = true WHERE k = :d;\nCOMMIT;\n",
);
PostgreSQL::Test::Utils::append_to_file("$dir/$_", $script{$_}) for keys %script;

my ($pb_out, $pb_err) = ('', '');
my $pgbench = do {
    local $ENV{PGOPTIONS} = '-c client_min_messages=warning';
    IPC::Run::start(['pgbench', '-n', '-c', $clients, '-j', 2, '-T', $seconds, '-P', 10,
        '-f', "$dir/insert.sql\@3", '-f', "$dir/select.sql\@4", '-f', "$dir/delete.sql\@3", $node->connstr('postgres')],
        '>', \$pb_out, '2>', \$pb_err);
};
my $pb_started = time();

# ---------- the long-lived backend ----------
my $bg = DlfSession->new($node, timeout => 600);
$bg->query("SET client_min_messages = error");
my $pid = $bg->query("SELECT pg_backend_pid()");

# The backend's private memory (RssAnon: VmRSS less the shared buffers and files it has touched, which
# grow with the data it reads and are no leak), and its VmRSS for the record.
sub rss_kb {
    my ($p, $field) = @_;
    $field //= 'RssAnon';
    open(my $f, '<', "/proc/$p/status") or return undef;
    while (my $line = <$f>) { return $1 if $line =~ /^$field:\s+(\d+) kB/; }
    return undef;
}
sub sockets {
    my ($p) = @_;
    opendir(my $d, "/proc/$p/fd") or return undef;
    return scalar grep { my $fd = $_; (readlink("/proc/$p/fd/$fd") // '') =~ /^socket:/ } readdir($d);
}
sub contexts_kb { int($bg->query("SELECT sum(total_bytes) FROM pg_backend_memory_contexts") / 1024) }

# One round: a GetItem, a Query, a Scan retried after HTTP 500, a GetItem over a dropped connection,
# a missing table (error), a typed read, an insert and a delete (two commits), an aborted write.
my $round = 0;
my ($round_errors, @round_err_text) = (0);
sub one_round {
    $round++;
    proxy_post('/__reset');
    proxy_post('/__faults', [{ target => 'Scan', action => 'error500', times => 1 },
        { target => 'GetItem', action => 'drop', times => 1 }]);
    my $k = "bg$round";
    my ($out, $err) = $bg->query(join("\n",
        "SELECT document->>'v' FROM faulty_g WHERE region = 'us-east-1' AND table_name = '$SMALL' AND partition_key = 'p1' AND sort_key = 's5';",
        "SELECT count(*) FROM faulty_g WHERE region = 'us-east-1' AND table_name = '$SMALL' AND partition_key = 'p2';",
        "SELECT count(*) FROM faulty_g WHERE region = 'us-east-1' AND table_name = '$SMALL' AND length(document->>'pad') = 2000;",
        "SELECT count(*), sum(v) FROM small_t WHERE pk = 'p3';",
        "INSERT INTO faulty_g (region, table_name, partition_key, sort_key, document) VALUES ('us-east-1', '$SMALL', 'bg', '$k', '{\"v\": 1}');",
        "DELETE FROM faulty_g WHERE region = 'us-east-1' AND table_name = '$SMALL' AND partition_key = 'bg' AND sort_key = '$k';",
        "BEGIN; INSERT INTO small_t VALUES ('bg', 'never$round', 1); ROLLBACK;",
        "SELECT 'ok';"));
    my $want = "5\n5\n20\n5|" . (3 + 7 + 11 + 15 + 19) . "\nok";
    if ($out ne $want || $err ne '') { $round_errors++; push @round_err_text, "$out / $err" if @round_err_text < 3; }
    # a failing statement (missing table), on its own
    ($out, $err) = $bg->query("SELECT count(*) FROM faulty_g WHERE region = 'us-east-1' AND table_name = '${SMALL}_missing'");
    if ($err !~ /HV00R/) { $round_errors++; push @round_err_text, "missing table: $err" if @round_err_text < 3; }
}

# Warm up (caches, connections, the Lua heap), then sample; loop until pgbench ends; sample again.
my $warm_until = $pb_started + ($seconds >= 30 ? 10 : $seconds / 3);
one_round() while time() < $warm_until;
my $warm_rounds = $round;
my %first = (rss => rss_kb($pid), vmrss => rss_kb($pid, 'VmRSS'), sockets => sockets($pid), contexts => contexts_kb());
my @pb_pids = split /\n/, $node->safe_psql('postgres',
    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid NOT IN (pg_backend_pid(), $pid)");
note('pgbench backends: ' . scalar(@pb_pids));
my %pb_first = map { $_ => [rss_kb($_), sockets($_), rss_kb($_, 'VmRSS')] } @pb_pids;
my @samples = ([time() - $pb_started, $first{rss}]);
my $pb_deadline = $pb_started + $seconds + 60;
my %pb_last;
while (time() < $pb_started + $seconds - 1) {
    one_round();
    push @samples, [time() - $pb_started, rss_kb($pid)] if $round % 20 == 0;
    %pb_last = map { $_ => [rss_kb($_), sockets($_), rss_kb($_, 'VmRSS')] } @pb_pids if time() < $pb_started + $seconds - 3;
}
my %last = (rss => rss_kb($pid), vmrss => rss_kb($pid, 'VmRSS'), sockets => sockets($pid), contexts => contexts_kb());
$pgbench->pump while $pgbench->pumpable && time() < $pb_deadline;
# (finish is true when every child exited 0; result then has no failing code to give)
my $pb_ok = eval { $pgbench->finish };
my $pb_rc = $pb_ok ? 0 : ($@ ? "finish failed: $@" : $pgbench->full_result);

# ---------- pgbench's outcome ----------
note("pgbench: " . join('; ', map { s/^\s*-?\s*//r } grep { /actually processed|^tps|transactions \(/ } split /\n/, $pb_out));
my @pb_err = grep { /\S/ && !/^progress: / } split /\n/, $pb_err;
note("pgbench stderr (first lines):\n" . join("\n", @pb_err[0 .. ($#pb_err < 9 ? $#pb_err : 9)])) if @pb_err;
is($pb_rc, 0, "pgbench ($clients clients, $seconds s) exited 0");
unlike($pb_err, qr/aborted|ERROR/, 'no client aborted, no ERROR');
my ($failed) = $pb_out =~ /number of failed transactions: (\d+)/;
is($failed // 0, 0, 'no failed transactions');
my ($total) = $pb_out =~ /number of transactions actually processed: (\d+)/;
my %per;
$per{$1} = $2 while $pb_out =~ /SQL script \d+: \S*\/(\w+)\.sql\n(?:.*\n)*? - (\d+) transactions/g;
cmp_ok($total // 0, '>', 200, "pgbench committed " . ($total // 0) . " transactions ("
    . join(', ', map { "$_ $per{$_}" } sort keys %per) . ')');

# ---------- DynamoDB holds exactly what committed ----------
my ($logged, $live) = split /\|/, $node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE NOT deleted) FROM load_log");
# pgbench may not count a transaction that committed just as -T ran out: at most one per client
ok($logged >= $per{insert} && $logged <= $per{insert} + $clients,
    "every committed insert is in the local log ($logged logged, pgbench counted $per{insert})") if defined $per{insert};
my @want = sort split /\n/, $node->safe_psql('postgres',
    "SELECT 'c' || client || '/' || k FROM load_log WHERE NOT deleted ORDER BY 1");
my @have = sort @{ ddb_keys($L) };
is(scalar(@have), $live, "DynamoDB holds $live items: committed inserts ($logged) minus deletes (" . ($logged - $live) . ')');
my %want = map { $_ => 1 } @want;
my %have_n;
$have_n{$_}++ for @have;
my @missing = grep { !$have_n{$_} } @want;
my @extra = grep { !$want{$_} } keys %have_n;
ok(!@missing && !@extra, 'exactly the logged items, none lost, none left over')
  or diag("missing: @missing[0 .. ($#missing < 4 ? $#missing : 4)]; extra: @extra[0 .. ($#extra < 4 ? $#extra : 4)]");

# ---------- the long-lived backend ----------
is($round_errors, 0, "the long-lived backend ran $round rounds of 9 statements with the expected answers")
  or diag(join("\n", @round_err_text));
my $grow = $last{rss} - $first{rss};
my ($mid) = grep { $_->[0] >= ($samples[0][0] + $samples[-1][0]) / 2 } @samples;
$mid //= $samples[-1];
my $grow2 = $last{rss} - $mid->[1];
my $later = $round - $warm_rounds;
note(sprintf('long-lived backend %d: RssAnon %d kB after %d warm-up rounds, %d kB after %d more (%+d kB); VmRSS %d -> %d kB; '
    . 'memory contexts %d -> %d kB; sockets %d -> %d; RssAnon samples (s, kB): %s', $pid, $first{rss}, $warm_rounds, $last{rss},
    $later, $grow, $first{vmrss}, $last{vmrss}, $first{contexts}, $last{contexts}, $first{sockets}, $last{sockets},
    join(' ', map { sprintf('%.0f:%d', @$_) } @samples)));
cmp_ok($later, '>=', $seconds / 2, "it kept working while pgbench ran ($later rounds after the warm-up)");
# Each round reads about 50 kB of responses (a 40 kB Scan among them): keeping any of that per round
# would pass these bounds within a few dozen rounds. The first bound leaves room for the Lua heap and
# libcurl settling after the warm-up; the second, over the later half only, is tight.
cmp_ok($grow, '<', 6144, "its memory (RssAnon) did not grow over those rounds ($first{rss} -> $last{rss} kB)");
cmp_ok($grow2, '<', 2048, sprintf('nor over the later half (%.0f s -> end: %d -> %d kB)', $mid->[0], $mid->[1], $last{rss}));
cmp_ok($last{contexts} - $first{contexts}, '<', 512,
    "nor did its PostgreSQL memory contexts ($first{contexts} -> $last{contexts} kB)");
cmp_ok($last{sockets}, '<=', $first{sockets} + 1, "nor its open sockets ($first{sockets} -> $last{sockets})");
my @pb_grow = map { $pb_last{$_}[0] - $pb_first{$_}[0] } grep { defined $pb_last{$_}[0] && defined $pb_first{$_}[0] } @pb_pids;
my @pb_sock = map { $pb_last{$_}[1] - $pb_first{$_}[1] } grep { defined $pb_last{$_}[1] && defined $pb_first{$_}[1] } @pb_pids;
is(scalar(@pb_grow), $clients, "the $clients pgbench backends were sampled");
my ($max_grow) = sort { $b <=> $a } @pb_grow;
note('pgbench backends, VmRSS growth (kB): ' . join(' ', map { ($pb_last{$_}[2] // 0) - ($pb_first{$_}[2] // 0) } @pb_pids));
my ($max_sock) = sort { $b <=> $a } @pb_sock;
# (the clients delete as often as they insert, so their partitions, and what a Query reads, stay small)
cmp_ok($max_grow // 0, '<', 2048, 'no pgbench backend grew in memory (RssAnon; most: ' . ($max_grow // 0) . " kB; all: @pb_grow)");
cmp_ok($max_sock // 0, '<=', 1, 'nor in open sockets (most: ' . ($max_sock // 0) . ')');

$bg->quit;
$node->stop;
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated by exception|PANIC:/, 'no backend crashed');
eval { ddb('DeleteTable', { TableName => $_ }) } for ($L, $SMALL);
$proxy->kill_kill(grace => 2);
note(sprintf('005_load took %.1f s', time() - $started));
done_testing();
