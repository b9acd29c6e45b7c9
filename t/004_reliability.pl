# Reliability under faults and bad input (issue 10). What t/002_aws_client.pl already covers (throttling,
# 5xx, damaged responses, dropped/hanging connections, clock skew, empty pages, UnprocessedItems,
# credential sources, secrets in logs) is not repeated here. This file adds:
#   ambiguous writes     the connection drops after DynamoDB applied a BatchWriteItem / UpdateItem
#   400 KB items         at the limit through the generic and a typed table; over it: ERROR, rollback
#   names and keys       reserved-word attribute names, keys with separators and unicode
#   credentials          container credentials refreshed before expiry; ExpiredTokenException
#   TLS                  a self-signed endpoint fails closed (HV00N, hint ca_file), works with ca_file
#   fuzz: responses      thousands of malformed DynamoDB answers (t/bin/fault-proxy.js action fuzz)
#   fuzz: WHERE clauses  thousands of random conditions, foreign table versus a local copy
#   security             non-superusers and script_path, ca_file, mapping, other users' mappings
# Every scenario checks the SQL outcome, the data in DynamoDB afterwards (read with t/bin/ddb.js),
# and that no backend crashed. The load test is t/005_load.pl.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use DlfTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{DLF_ROOT} or die "DLF_ROOT is not set";
my $ddb = $ENV{DDB_ENDPOINT} or die "DDB_ENDPOINT is not set";
my $started = time();
my %timing;
# DLF_RELIABILITY_ONLY=tls,fuzz_where runs only those sections (for working on one of them).
my %only = map { $_ => 1 } grep { length } split /,/, ($ENV{DLF_RELIABILITY_ONLY} // '');
sub section { my ($name) = @_; return !%only || $only{$name}; }

my $json = JSON::PP->new->canonical->utf8;
# Strings in this file are UTF-8 bytes (no "use utf8"), as psql prints them; requests to and answers from
# t/bin/ddb.js keep them as bytes too.
my $bytes_json = JSON::PP->new->canonical;

# ---------- the fault proxy (it exits when this script's end of its stdin closes) ----------
my $proxy = DlfTest::start_fault_proxy($root, $ddb);
my $purl = "http://127.0.0.1:$proxy->{port}";

sub proxy_post { DlfTest::proxy_post($proxy, @_) }
sub faults { DlfTest::proxy_faults($proxy, @_) }
sub counts { DlfTest::proxy_counts($proxy) }
sub ops { counts()->{ops}{ $_[0] } // 0 }
sub iso8601 { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) }
# The container credentials the proxy hands out at /__creds.
sub set_creds {
    my ($key, $expires) = @_;
    proxy_post('/__creds', { AccessKeyId => $key, SecretAccessKey => "secret-of-$key",
        Token => "token-of-$key", Expiration => iso8601($expires) });
}

# ---------- DynamoDB Local directly (no proxy, no FDW) ----------
sub ddb {
    my ($op, $req) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['node', "$root/t/bin/ddb.js", $ddb, 'call', $op, $bytes_json->encode($req)], '>', \$out, '2>', \$err)
      or die "ddb.js $op: $err";
    return $bytes_json->decode($out);
}
# Every item of a table (consistent, all pages).
sub ddb_items {
    my ($table) = @_;
    my (@items, $start);
    for (1 .. 1000) {
        my $r = ddb('Scan', { TableName => $table, ConsistentRead => JSON::PP::true,
            ($start ? (ExclusiveStartKey => $start) : ()) });
        push @items, @{ $r->{Items} };
        $start = $r->{LastEvaluatedKey} or last;
    }
    return \@items;
}
sub ddb_get {
    my ($table, $key) = @_;
    return ddb('GetItem', { TableName => $table, Key => $key, ConsistentRead => JSON::PP::true })->{Item};
}
sub create_table {
    my ($name, @keys) = @_;    # @keys: [name, type], ...
    ddb('CreateTable', { TableName => $name, BillingMode => 'PAY_PER_REQUEST',
        AttributeDefinitions => [map { { AttributeName => $_->[0], AttributeType => $_->[1] } } @keys],
        KeySchema => [map { { AttributeName => $keys[$_][0], KeyType => $_ ? 'RANGE' : 'HASH' } } 0 .. $#keys] });
}
sub batch_put {
    my ($table, @items) = @_;
    while (my @chunk = splice(@items, 0, 25)) {
        my $r = ddb('BatchWriteItem', { RequestItems => { $table => [map { { PutRequest => { Item => $_ } } } @chunk] } });
        die "unprocessed items while loading $table" if %{ $r->{UnprocessedItems} // {} };
    }
}

# Our own tables, named after this process so concurrent runs do not meet.
my $prefix = "dlf_rel_$$";
my %T = map { $_ => "${prefix}_$_" } qw(writes big words where where2 wheret fuzz sec);
create_table($T{writes}, [k => 'S']);
create_table($T{big}, [k => 'S']);
create_table($T{words}, [user => 'S'], [timestamp => 'S']);
create_table($T{where}, [pk => 'S'], [sk => 'S']);
create_table($T{where2}, [pk => 'S'], [sk => 'S']);
create_table($T{wheret}, [pk => 'S'], [sk => 'N']);
create_table($T{fuzz}, [pk => 'S'], [sk => 'S']);
create_table($T{sec}, [k => 'S']);
batch_put($T{sec}, map { { k => { S => "s$_" } } } 1 .. 3);

# ---------- the node: container credentials only (from the proxy's /__creds) ----------
my $tmp = PostgreSQL::Test::Utils::tempdir();
delete @ENV{qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)};
$ENV{AWS_SHARED_CREDENTIALS_FILE} = "$tmp/no-credentials";
$ENV{AWS_CONFIG_FILE} = "$tmp/no-config";
$ENV{AWS_EC2_METADATA_DISABLED} = 'true';
$ENV{AWS_CONTAINER_CREDENTIALS_FULL_URI} = "$purl/__creds";
set_creds('ASIARELBASE', time() + 6 * 3600);

my $node = PostgreSQL::Test::Cluster->new('reliability');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\nmax_connections = 20\n");
$node->start;

my %servers = (
    direct => "endpoint '$ddb', max_retries '3'",
    faulty => "endpoint '$purl', max_retries '3'",
    fuzzsrv => "endpoint '$purl', max_retries '0', request_timeout_ms '5000'",
    mapped => "endpoint '$purl', max_retries '3'",
);
my $setup = "CREATE EXTENSION dynamo_lua_fdw;\nCREATE COLLATION case_insensitive (provider = icu, "
  . "locale = 'und-u-ks-level2', deterministic = false);\n";
for my $s (sort keys %servers) {
    $setup .= "CREATE SERVER $s FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS ($servers{$s});\n"
      . "CREATE FOREIGN TABLE ${s}_g (oid text, region text, table_name text, partition_key text, "
      . "sort_key text, document json NOT NULL) SERVER $s;\n";
}
$setup .= "SET log_statement = 'none';\nCREATE USER MAPPING FOR CURRENT_USER SERVER mapped "
  . "OPTIONS (access_key_id 'AKIDRELMAPPED', secret_access_key 'relMappedSecret');\n";
$node->safe_psql('postgres', $setup);

# Runs SQL in a new session; returns stdout, stderr (verbose: with SQLSTATEs) and the seconds taken.
sub sql { DlfTest::psql_verbose($node, @_) }

sub routed { my ($ft, $table) = @_; return "FROM $ft " . where_routed($table); }
sub where_routed { my ($table) = @_; return "WHERE region = 'us-east-1' AND table_name = '$table'"; }

# No backend may crash: the server log since the last check has no sign of it, and the server is up.
my $log_seen = 0;
sub no_crash {
    my ($what) = @_;
    my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
    my $new = substr($log, $log_seen);
    $log_seen = length($log);
    my @bad = $new =~ /^.*(?:terminated by signal|was terminated by exception|PANIC:|server process .* exited with exit code|all server processes terminated).*$/mg;
    ok(!@bad, "$what: no backend crashed") or diag(join("\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]));
    my ($up) = sql("SELECT 'up'");
    is($up, 'up', "$what: the server still answers") if @bad;
}

my ($out, $err, $secs, $c);

# =====================================================================================================
# Ambiguous writes: DynamoDB applied the request, but the answer never came back.
# =====================================================================================================
if (section('ambiguous')) {
    my $t0 = time();
    my $W = $T{writes};
    batch_put($W, map { { k => { S => "gone$_" }, v => { N => "$_" } } } 1 .. 3);
    $node->safe_psql('postgres', "CREATE TABLE local_log (what text)");

    # One transaction: 10 puts, 3 deletes and a row in a local table. The first BatchWriteItem is
    # applied by DynamoDB, then the connection drops without an answer; the client sends it again.
    faults({ target => 'BatchWriteItem', action => 'forward_then_drop', times => 1 });
    ($out, $err) = sql("BEGIN;\n"
      . "INSERT INTO faulty_g (region, table_name, partition_key, document) "
      . "SELECT 'us-east-1', '$W', 'amb' || i, json_build_object('v', i) FROM generate_series(1, 10) i;\n"
      . "DELETE " . routed('faulty_g', $W) . " AND partition_key IN ('gone1', 'gone2', 'gone3');\n"
      . "INSERT INTO local_log VALUES ('ambiguous 1');\nCOMMIT;");
    unlike($err, qr/ERROR/, 'a BatchWriteItem whose answer was lost: the COMMIT succeeds');
    $c = counts();
    is($c->{ops}{BatchWriteItem}, 2, 'the request was sent twice (applied, answer lost, sent again)');
    is($c->{forwarded_writes}, 26, 'both copies of the 13 writes reached DynamoDB (puts and deletes are idempotent)');
    my %have = map { $_->{k}{S} => $_ } @{ ddb_items($W) };
    is_deeply([sort grep { /^amb/ } keys %have], [sort map { "amb$_" } 1 .. 10], 'DynamoDB has each of the 10 items once');
    is_deeply([map { $have{"amb$_"}{v}{N} } 1 .. 10], [1 .. 10], 'with its own content');
    ok(!(grep { /^gone/ } keys %have), 'the 3 deleted items are gone');
    ($out) = sql("SELECT what FROM local_log");
    is($out, 'ambiguous 1', 'the transaction committed (its local row is there)');

    # A typed UPDATE is an UpdateItem with SET/REMOVE of absolute values: also safe to repeat.
    $node->safe_psql('postgres', "CREATE FOREIGN TABLE writes_t (k text NOT NULL, v integer, note text) "
      . "SERVER faulty OPTIONS (table '$W')");
    faults({ target => 'UpdateItem', action => 'forward_then_drop', times => 1 });
    ($out, $err) = sql("UPDATE writes_t SET v = v * 100, note = NULL WHERE k = 'amb7'");
    unlike($err, qr/ERROR/, 'an UpdateItem whose answer was lost: the UPDATE commits');
    is(ops('UpdateItem'), 2, 'the UpdateItem was sent twice');
    is(ddb_get($W, { k => { S => 'amb7' } })->{v}{N}, '700', 'the item has the new value once (700, not 70000)');

    # The connection keeps dropping after every forwarded request: the error must say the writes may
    # have been applied, never that they were not.
    faults({ target => 'BatchWriteItem', action => 'forward_then_drop', times => 10 });
    ($out, $err) = sql("BEGIN;\nINSERT INTO faulty_g (region, table_name, partition_key, document) "
      . "SELECT 'us-east-1', '$W', 'lost' || i, '{}' FROM generate_series(1, 3) i;\n"
      . "INSERT INTO local_log VALUES ('ambiguous 2');\nCOMMIT;\nSELECT 'alive';");
    like($err, qr/ERROR:  HV00N: could not write DynamoDB item .*lost the connection to DynamoDB during BatchWriteItem/,
        'dropped after every try: the COMMIT fails with HV00N, lost connection');
    like($err, qr/DETAIL:  .*Tried 4 times\. The write may or may not have been applied\./,
        'the detail says the write may or may not have been applied');
    is($out, 'alive', 'the session is usable after the failed COMMIT');
    # libcurl itself sends a request again, once, when a reused connection dies before any answer: the
    # first try (on the connection DescribeTable opened) may reach the proxy twice.
    my $sent = ops('BatchWriteItem');
    ok($sent == 4 || $sent == 5, "after 1 + max_retries tries ($sent requests, libcurl's own resend included)");
    ($out) = sql("SELECT count(*) FROM local_log WHERE what = 'ambiguous 2'");
    is($out, '0', 'the transaction was rolled back (its local row is not there)');
    is_deeply([sort map { $_->{k}{S} } grep { $_->{k}{S} =~ /^lost/ } @{ ddb_items($W) }], [qw(lost1 lost2 lost3)],
        'DynamoDB did apply the writes (each once): the error had to say so');
    unlike($err, qr/the others were not/, 'the detail does not claim that writes with an unknown outcome were not applied');
    no_crash('ambiguous writes');
    $timing{ambiguous} = time() - $t0;
}

# =====================================================================================================
# A script that cannot run while a transaction or savepoint rolls back (here: broken on disk, as during a
# reinstall or an edit): the rolled-back writes must not reach DynamoDB with the next COMMIT.
# =====================================================================================================
if (section('abort')) {
    my $t0 = time();
    my $W = $T{writes};
    my $sharedir = `pg_config --sharedir`;
    chomp $sharedir;
    my $scripts = "$tmp/scripts";
    mkdir $scripts or die "$scripts: $!";
    system('cp', '-r', "$sharedir/dynamo_lua_fdw/.", "$scripts/") == 0 or die "could not copy the scripts";
    my $file = "$scripts/dynamo_lua_fdw/writes.lua";
    my $good = PostgreSQL::Test::Utils::slurp_file($file);
    my $write = sub { open(my $f, '>', $file) or die "$file: $!"; print $f $_[0]; close $f; };
    my $ins = sub { "INSERT INTO direct_g (region, table_name, partition_key, document) VALUES ('us-east-1', '$W', '$_[0]', '{}')" };
    my $bg = DlfSession->new($node);
    $bg->query("SET dynamo_lua_fdw.script_path = '$scripts';\nSET client_min_messages = warning");
    my ($o, $e);
    $bg->query("BEGIN;\n" . $ins->('abort-rolled-back'));
    $write->($good . "\nthis is = not lua\n");
    ($o, $e) = $bg->query("ROLLBACK");
    like($e, qr/WARNING:  .*xact_abort failed/, 'ROLLBACK while a script is broken: a WARNING that the abort handler failed');
    $write->($good);
    ($o, $e) = $bg->query("BEGIN;\n" . $ins->('abort-committed') . ";\nCOMMIT");
    unlike($e, qr/ERROR/, 'the scripts fixed, the next transaction commits');

    $bg->query("BEGIN;\nSAVEPOINT s;\n" . $ins->('abort-sp-rolled-back'));
    $write->($good . "\nthis is = not lua\n");
    ($o, $e) = $bg->query("ROLLBACK TO SAVEPOINT s");
    $write->($good);
    ($o, $e) = $bg->query($ins->('abort-sp-committed') . ";\nCOMMIT");
    unlike($e, qr/ERROR/, 'the same with ROLLBACK TO SAVEPOINT: the transaction commits');
    $bg->quit;
    my %have = map { $_->{k}{S} => 1 } grep { $_->{k}{S} =~ /^abort-/ } @{ ddb_items($W) };
    ok($have{'abort-committed'} && $have{'abort-sp-committed'}, 'the committed items are in DynamoDB');
    ok(!$have{'abort-rolled-back'}, 'the write of the rolled-back transaction never reached DynamoDB');
    ok(!$have{'abort-sp-rolled-back'}, 'nor the write rolled back to the savepoint');
    no_crash('rollback with a broken script');
    $timing{abort} = time() - $t0;
}

# =====================================================================================================
# 400 KB items: DynamoDB's limit is 409,600 bytes (attribute names plus values, UTF-8).
# =====================================================================================================
if (section('big')) {
    my $t0 = time();
    my $B = $T{big};
    # k + "big1" + "pad" = 8 bytes; the pad makes the item exactly 409,600 bytes.
    my $n = 409600 - 8;
    ($out, $err) = sql("INSERT INTO direct_g (region, table_name, partition_key, document) VALUES "
      . "('us-east-1', '$B', 'big1', json_build_object('pad', repeat('x', $n))), "
      . "('us-east-1', '$B', 'big2', json_build_object('pad', repeat('é', " . ($n / 2) . "))), "
      . "('us-east-1', '$B', 'big3', json_build_object('pad', repeat('😀', " . ($n / 4) . ")));");
    # (not 3-byte characters: DynamoDB Local 3.3.0 itself returns long strings of them with extra characters)
    unlike($err, qr/ERROR/, 'three items of exactly 400 KB (ASCII, 2-byte and 4-byte UTF-8) are written');
    my %len;
    for my $k (qw(big1 big2 big3)) {
        $len{$k} = length(ddb_get($B, { k => { S => $k } })->{pad}{S} // '');
    }
    is_deeply(\%len, { big1 => $n, big2 => $n, big3 => $n }, 'DynamoDB holds each pad with all its bytes');

    ($out, $err) = sql("SELECT partition_key, octet_length(document->>'pad'), "
      . "md5(document->>'pad') = md5(CASE partition_key WHEN 'big1' THEN repeat('x', $n) "
      . "WHEN 'big2' THEN repeat('é', " . ($n / 2) . ") ELSE repeat('😀', " . ($n / 4) . ") END) "
      . routed('direct_g', $B) . " ORDER BY 1");
    is($out, "big1|$n|t\nbig2|$n|t\nbig3|$n|t", 'a Scan reads the three items back byte for byte');
    ($out) = sql("SELECT octet_length(document::text) > 409600 " . routed('direct_g', $B) . " AND partition_key = 'big3'");
    is($out, 't', 'a Query by key reads one');

    # The same items through a typed table; an UPDATE rewrites a whole 400 KB attribute.
    $node->safe_psql('postgres', "CREATE FOREIGN TABLE big_t (k text NOT NULL, pad text) SERVER direct OPTIONS (table '$B')");
    ($out, $err) = sql("SELECT k, octet_length(pad) FROM big_t WHERE k = 'big2'");
    is($out, "big2|$n", 'the typed table reads a 400 KB item by key');
    ($out, $err) = sql("UPDATE big_t SET pad = repeat('z', $n) WHERE k = 'big2'");
    unlike($err, qr/ERROR/, 'a typed UPDATE writes a 400 KB attribute');
    is(ddb_get($B, { k => { S => 'big2' } })->{pad}{S}, 'z' x $n, 'DynamoDB has the new 400 KB value');

    # One byte over: the COMMIT fails clearly and the transaction is rolled back, small writes included.
    $node->safe_psql('postgres', "CREATE TABLE big_log (what text)");
    ($out, $err) = sql("BEGIN;\nINSERT INTO big_log VALUES ('over');\n"
      . "INSERT INTO direct_g (region, table_name, partition_key, document) VALUES "
      . "('us-east-1', '$B', 'small1', '{\"v\": 1}'), "
      . "('us-east-1', '$B', 'huge1', json_build_object('pad', repeat('x', $n)));\n"
      . "COMMIT;\nSELECT 'alive';");
    like($err, qr/ERROR:  22023: could not write DynamoDB item .*ValidationException: Item size has exceeded the maximum allowed size/,
        'an item of 409,601 bytes: ERROR 22023 at COMMIT naming the size limit');
    is($out, 'alive', 'the session is usable after the failed COMMIT');
    ($out) = sql("SELECT count(*) FROM big_log");
    is($out, '0', 'the transaction was rolled back');
    ok(!ddb_get($B, { k => { S => 'huge1' } }) && !ddb_get($B, { k => { S => 'small1' } }),
        'neither the big item nor the small one of the same request is in DynamoDB');
    like($err, qr/could not write DynamoDB item \S*huge1/, 'the error names the item that is too big');
    no_crash('400 KB items');
    $timing{big} = time() - $t0;
}

# =====================================================================================================
# Reserved words as attribute names; keys with separators, quotes and unicode.
# =====================================================================================================
if (section('words')) {
    my $t0 = time();
    my $R = $T{words};
    my %reserved = map { lc($_) => 1 } split /\s+/, PostgreSQL::Test::Utils::slurp_file(
        ($ENV{DLF_TESTDATA} // "$root/../shared/testdata") . '/dynamodb/reserved-words.txt');
    ok(!(grep { !$reserved{$_} } qw(user timestamp name status count data size key)),
        'user, timestamp, name, status, count, data, size and key are DynamoDB reserved words');
    # Partition keys and sort keys that contain what a naive key encoding would split on.
    my @pks = ('a#b', 'a|b', 'a,b', 'a"b', "a'b", 'a\\b', 'a/b:c.d', ' lead', 'trail ', "tab\there", "line\nbreak",
        '😀', '名前', 'Ünïcödé', "e\xcc\x81", "\xc3\xa9", '["us-east-1","t","k",{"S":"x"}]', '{"S":"x"}', '%_*', 'NULL');
    my @sks = ('1', '#', '|', '"', "'", '\\', '::', 'x y', '😀', '{}');
    my (@rows, %want);
    for my $i (0 .. $#pks) {
        for my $j (0 .. 1) {
            my ($u, $ts) = ($pks[$i], $sks[($i + $j) % @sks]);
            push @rows, [$u, $ts, "name $i.$j", $j ? 'active' : 'retired', $i * 10 + $j, "data-$i-$j"];
            $want{"$u\0$ts"} = $rows[-1];
        }
    }
    sub lit { my $s = shift; $s =~ s/'/''/g; return "E'" . ($s =~ s/\\/\\\\/gr =~ s/\n/\\n/gr =~ s/\t/\\t/gr) . "'"; }
    my $values = join(",\n", map { '(' . join(', ', lit($_->[0]), lit($_->[1]), lit($_->[2]), lit($_->[3]), $_->[4], lit($_->[5])) . ')' } @rows);
    $node->safe_psql('postgres', <<"EOS");
CREATE FOREIGN TABLE words_t ("user" text NOT NULL, "timestamp" text NOT NULL, name text, status text,
    count integer, data text, size numeric, "key" text, "ключ" text, dotted text OPTIONS (attribute 'a.b#c:d e'))
  SERVER direct OPTIONS (table '$R');
EOS
    ($out, $err) = sql("SET client_encoding = 'UTF8';\nINSERT INTO words_t (\"user\", \"timestamp\", name, status, count, data) VALUES\n$values;");
    unlike($err, qr/ERROR/, scalar(@rows) . ' rows with reserved-word columns and odd keys are inserted through a typed table');
    my $items = ddb_items($R);
    my %got = map { ("$_->{user}{S}\0$_->{timestamp}{S}" => [$_->{user}{S}, $_->{timestamp}{S}, $_->{name}{S},
        $_->{status}{S}, 0 + $_->{count}{N}, $_->{data}{S}]) } @$items;
    is_deeply(\%got, \%want, 'DynamoDB has every item under its exact key, with attributes user, timestamp, name, status, count, data');

    # Every key by GetItem, every partition by Query: one statement each, compared with the rows written.
    my $probe = join("\nUNION ALL ", map {
        "SELECT * FROM (SELECT \"user\", \"timestamp\", name, status, count, data FROM words_t WHERE \"user\" = "
          . lit($_->[0]) . ' AND "timestamp" = ' . lit($_->[1]) . ') s' } @rows);
    my $copy = '';
    ($out, $err) = sql("COPY ($probe) TO STDOUT WITH (FORMAT csv)", extra => ['-P', 'format=csv']);
    my @lines = parse_csv($out);
    is_deeply({ map { ("$_->[0]\0$_->[1]" => [@$_[0 .. 3], 0 + $_->[4], $_->[5]]) } @lines }, \%want,
        'each item is found by its key (GetItem with reserved-word key names)');
    is(scalar @lines, scalar @rows, 'and only once');
    ($out) = sql("EXPLAIN (COSTS OFF) SELECT * FROM words_t WHERE \"user\" = 'a#b' AND \"timestamp\" = '#'");
    like($out, qr/DynamoDB Operation: GetItem/, 'such a lookup is a GetItem');
    ($out) = sql("SELECT string_agg(\"timestamp\", ',' ORDER BY \"timestamp\") FROM words_t WHERE \"user\" = 'a|b'");
    is($out, join(',', sort($sks[1], $sks[2])), 'a Query by the reserved partition key finds both items of a partition');

    # UPDATE of reserved-word attributes (UpdateItem with #names), DELETE by odd keys.
    ($out, $err) = sql("UPDATE words_t SET count = count + 1000, status = 'done', data = NULL, size = 1.5, \"key\" = 'k', "
      . "\"ключ\" = 'значение', dotted = 'dot' WHERE \"user\" IN ('a\"b', E'line\\nbreak', '😀')");
    unlike($err, qr/ERROR/, 'UPDATE sets and removes reserved-word attributes');
    ($out, $err) = sql("DELETE FROM words_t WHERE \"user\" IN ('a,b', E'a\\\\b', 'NULL', '%_*')");
    unlike($err, qr/ERROR/, 'DELETE by keys with separators');
    for my $u ('a"b', "line\nbreak", '😀') {
        for my $k (grep { /^\Q$u\E\0/ } keys %want) {
            $want{$k}[4] += 1000;
            $want{$k}[3] = 'done';
            $want{$k}[5] = undef;
        }
    }
    delete @want{ grep { /^(?:a,b|a\\b|NULL|%_\*)\0/ } keys %want };
    $items = ddb_items($R);
    %got = map { ("$_->{user}{S}\0$_->{timestamp}{S}" => [$_->{user}{S}, $_->{timestamp}{S}, $_->{name}{S},
        $_->{status}{S}, 0 + $_->{count}{N}, $_->{data} ? $_->{data}{S} : undef]) } @$items;
    is_deeply(\%got, \%want, 'DynamoDB has the updates and lacks exactly the deleted items');
    my ($smile) = grep { $_->{user}{S} eq '😀' } @$items;
    is_deeply([map { $smile->{$_} } 'size', 'key', 'ключ', 'a.b#c:d e'], [{ N => '1.5' }, { S => 'k' }, { S => 'значение' }, { S => 'dot' }],
        'attributes named size, key, a unicode name and one with . # : and a space are written under their exact names');

    # The generic table over the same items: keys round-trip through oid, documents keep the names.
    ($out, $err) = sql("SELECT count(*), count(DISTINCT oid), sum((document->>'count')::int) " . routed('direct_g', $R));
    my $sum = 0;
    $sum += $_->[4] for values %want;
    is($out, scalar(keys %want) . '|' . scalar(keys %want) . "|$sum", 'the generic table sees every item once, distinct oids');
    my ($kanji) = grep { /^名前\0/ } sort keys %want;
    my $kanji_sk = (split /\0/, $kanji)[1];
    ($out, $err) = sql("SELECT document->>'user', document->>'timestamp', document->>'status' " . routed('direct_g', $R)
      . " AND partition_key = '名前' AND sort_key = " . lit($kanji_sk));
    is($out, "名前|$kanji_sk|$want{$kanji}[3]", 'a generic GetItem with a unicode key');
    ($out, $err) = sql("BEGIN;\n"
      . "UPDATE direct_g SET document = (document::jsonb || '{\"status\": \"generic\", \"data\": {\"size\": [1, 2], \"count\": null}}')::json "
      . where_routed($R) . " AND partition_key IN ('a/b:c.d', ' lead', 'trail ');\n"
      . "DELETE " . routed('direct_g', $R) . " AND partition_key IN ('[\"us-east-1\",\"t\",\"k\",{\"S\":\"x\"}]', '{\"S\":\"x\"}');\n"
      . "COMMIT;");
    unlike($err, qr/ERROR/, 'generic UPDATE and DELETE through oids of keys with separators, quotes and JSON');
    $items = ddb_items($R);
    my %by = map { ("$_->{user}{S}\0$_->{timestamp}{S}" => $_) } @$items;
    delete @want{ grep { /^(?:\["us-east-1"|\{"S")/ } keys %want };
    is_deeply([sort keys %by], [sort keys %want], 'DynamoDB lacks exactly the two items deleted through the generic table');
    my @upd = grep { /^(?:a\/b:c\.d| lead|trail )\0/ } keys %by;
    is(scalar(grep { ($by{$_}{status}{S} // '') eq 'generic'
        && $json->encode($by{$_}{data}) eq '{"M":{"count":{"NULL":true},"size":{"L":[{"N":"1"},{"N":"2"}]}}}' } @upd), 6,
        'the 6 items updated through the generic table have the new status and nested reserved names');
    no_crash('reserved words and odd keys');
    $timing{words} = time() - $t0;
}

# Minimal CSV (as psql's COPY ... csv prints it): quoted fields may hold commas, quotes and newlines.
sub parse_csv {
    my ($text) = @_;
    my (@rows, @row, $field);
    my $i = 0;
    my $n = length $text;
    while ($i < $n) {
        my $ch = substr($text, $i, 1);
        if ($ch eq '"') {
            my $end = $i + 1;
            $field = '';
            while (1) {
                my $q = index($text, '"', $end);
                die "unterminated CSV field" if $q < 0;
                $field .= substr($text, $end, $q - $end);
                if (substr($text, $q + 1, 1) eq '"') { $field .= '"'; $end = $q + 2; next; }
                $i = $q + 1;
                last;
            }
        } else {
            my ($m) = substr($text, $i) =~ /^([^,\n]*)/;
            $field = $m;
            $i += length $m;
        }
        push @row, $field;
        my $sep = substr($text, $i, 1);
        $i++;
        if ($sep ne ',') { push @rows, [@row]; @row = (); }
    }
    return @rows;
}

# =====================================================================================================
# Temporary credentials: refreshed before they expire; ExpiredTokenException refreshes and retries once.
# =====================================================================================================
if (section('creds')) {
    my $t0 = time();
    my $S = $T{sec};
    my $q = "SELECT count(*) " . routed('faulty_g', $S);
    my $bg = DlfSession->new($node);
    $bg->query("SET client_min_messages = error");

    # Long-lived credentials are cached: a change at the endpoint is not seen.
    set_creds('ASIARELLONG1', time() + 6 * 3600);
    faults();
    is($bg->query($q), '3', 'container credentials valid for 6 hours: the query works');
    set_creds('ASIARELLONG2', time() + 6 * 3600);
    is($bg->query($q), '3', 'a second query works');
    $c = counts();
    is($c->{creds_requests}, 1, 'the credentials were fetched once for both queries (cached)');
    is_deeply($c->{access_keys}, ['ASIARELLONG1'], 'and the cached key signed both');

    # Credentials 4 minutes from expiry are inside the 5-minute refresh window: fetched again each time.
    set_creds('ASIARELSHORT1', time() + 240);
    faults();
    # The backend still holds ASIARELLONG1 (valid 6 h); a fresh backend for the short ones.
    $bg->quit;
    $bg = DlfSession->new($node);
    $bg->query("SET client_min_messages = error");
    is($bg->query($q), '3', 'credentials that expire in 4 minutes: the query works');
    set_creds('ASIARELSHORT2', time() + 240);
    is($bg->query($q), '3', 'the next query works');
    $c = counts();
    is_deeply($c->{access_keys}, ['ASIARELSHORT1', 'ASIARELSHORT2'],
        'the next query fetched the credentials again (inside the refresh window) and signed with the new ones');
    cmp_ok($c->{creds_requests}, '>=', 2, "fetched for each query ($c->{creds_requests} fetches)");

    # Expiring in 5 minutes + 6 s: cached now, refreshed on the first query after the 6 s.
    my $exp = int(time()) + 306;
    set_creds('ASIARELEDGE1', $exp);
    faults();
    is($bg->query($q), '3', 'credentials that expire in 5 min 6 s: the query works');
    set_creds('ASIARELEDGE2', time() + 6 * 3600);
    my $early = time();
    is($bg->query($q), '3', 'a query right after');
    my $edge_keys = counts()->{access_keys};
    SKIP: {
        skip 'the machine was too slow to query within the 6 s before the refresh window', 1 if time() > $exp - 301;
        is_deeply($edge_keys, ['ASIARELEDGE1'], 'still signs with the cached credentials (not yet in the refresh window)');
    }
    sleep(0.1) while time() < $exp - 300 + 0.5;
    is($bg->query($q), '3', 'a query once the refresh window (5 minutes before expiry) has begun');
    is_deeply(counts()->{access_keys}, ['ASIARELEDGE1', 'ASIARELEDGE2'], 'signs with freshly fetched credentials');

    # ExpiredTokenException: the cached credentials are dropped, fetched again, the request repeated once.
    set_creds('ASIARELEXP2', time() + 6 * 3600);
    faults({ target => 'Scan', action => 'expired_token', times => 1 });
    my $retries0 = $bg->query("SELECT (dynamo_lua_fdw.stats()->>'retries')::int");
    is($bg->query($q), '3', 'ExpiredTokenException once: the query succeeds');
    $c = counts();
    is($c->{ops}{Scan}, 2, 'after one repeated request');
    is_deeply($c->{access_keys}, ['ASIARELEDGE2', 'ASIARELEXP2'], 'signed first with the cached, then with the refetched credentials');
    is($c->{creds_requests}, 1, 'the credentials were fetched once');
    is($bg->query("SELECT (dynamo_lua_fdw.stats()->>'retries')::int") - $retries0, 0,
        'the refresh does not count as a retry (max_retries is left for other failures)');

    faults({ target => 'Scan', action => 'expired_token', times => 2 });
    my ($o, $e) = $bg->query($q);
    like($e, qr/ERROR:  28000: DynamoDB Scan failed: ExpiredTokenException.*\n(?:.*\n)*HINT:  .*expired/,
        'ExpiredTokenException again after the refresh: ERROR 28000 with a hint about expiry');
    is(ops('Scan'), 2, 'refreshed and retried once, not again');

    # A write at COMMIT: the refresh happens there too, and the item is written once.
    set_creds('ASIARELEXP3', time() + 6 * 3600);
    faults({ target => 'BatchWriteItem', action => 'expired_token', times => 1 });
    $bg->query("INSERT INTO faulty_g (region, table_name, partition_key, document) VALUES ('us-east-1', '$S', 'tok1', '{}')");
    $c = counts();
    is($c->{ops}{BatchWriteItem}, 2, 'a BatchWriteItem refused with ExpiredTokenException is repeated once');
    is($c->{forwarded_writes}, 1, 'the refused request was not applied; the repeated one was');
    ok(ddb_get($S, { k => { S => 'tok1' } }), 'the item is in DynamoDB');
    $bg->quit;

    # Static credentials (user mapping) cannot be refreshed: ExpiredTokenException is an error at once.
    faults({ target => 'Scan', action => 'expired_token', times => 5 });
    ($out, $err) = sql("SELECT count(*) " . routed('mapped_g', $S));
    like($err, qr/ERROR:  28000: DynamoDB Scan failed: ExpiredTokenException/, 'with user-mapping credentials: ERROR 28000');
    $c = counts();
    is($c->{ops}{Scan}, 1, 'without a retry');
    is($c->{creds_requests}, 0, 'and without asking the container endpoint');
    ddb('DeleteItem', { TableName => $S, Key => { k => { S => 'tok1' } } });
    no_crash('credentials');
    $timing{creds} = time() - $t0;
}

# =====================================================================================================
# TLS: a self-signed endpoint fails closed; ca_file makes it work.
# =====================================================================================================
if (section('tls')) {
    my $t0 = time();
    my $dir = "$tmp/tls";
    mkdir $dir;
    my $ossl = sub {
        my ($out, $err) = ('', '');
        IPC::Run::run(['openssl', @_], '>', \$out, '2>', \$err) or die "openssl @_: $err";
    };
    my $ext = sub { my ($f, $text) = @_; PostgreSQL::Test::Utils::append_to_file("$dir/$f", $text); "$dir/$f" };
    # A self-signed certificate for 127.0.0.1; a CA and two certificates it signed: one for 127.0.0.1,
    # one for another name.
    $ossl->('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', "$dir/self.key", '-out', "$dir/self.pem");
    $ossl->('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
        '-subj', '/CN=dlf test CA', '-keyout', "$dir/ca.key", '-out', "$dir/ca.pem");
    for my $leaf ([good => 'IP:127.0.0.1,DNS:localhost'], [wrong => 'DNS:wrong.invalid']) {
        my ($name, $san) = @$leaf;
        $ossl->('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', "/CN=$name",
            '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
        $ossl->('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.pem", '-CAkey', "$dir/ca.key",
            '-CAcreateserial', '-days', '2', '-out', "$dir/$name.pem", '-extfile', $ext->("$name.ext", "subjectAltName=$san\n"));
    }
    my %tls;
    for my $name (qw(self good wrong)) {
        $tls{$name} = DlfTest::start_helper(['node', "$root/t/bin/tls-forward.js", '0', "$dir/$name.pem", "$dir/$name.key", $ddb,
            '--exit-on-eof'], "the TLS forwarder ($name)");
    }
    my $https = sub { "https://127.0.0.1:$tls{$_[0]}{port}" };
    my %tls_servers = (
        self_noca => "endpoint '" . $https->('self') . "'",
        self_ca => "endpoint '" . $https->('self') . "', ca_file '$dir/self.pem'",
        good_ca => "endpoint '" . $https->('good') . "', ca_file '$dir/ca.pem'",
        good_noca => "endpoint '" . $https->('good') . "'",
        wrong_ca => "endpoint '" . $https->('wrong') . "', ca_file '$dir/ca.pem'",
        good_missing => "endpoint '" . $https->('good') . "', ca_file '$dir/missing.pem'",
        good_notpem => "endpoint '" . $https->('good') . "', ca_file '$dir/good.ext'",
    );
    $node->safe_psql('postgres', join('', map {
        "CREATE SERVER $_ FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS ($tls_servers{$_}, max_retries '3');\n"
      . "CREATE FOREIGN TABLE ${_}_g (oid text, region text, table_name text, partition_key text, sort_key text, "
      . "document json NOT NULL) SERVER $_;\n" } sort keys %tls_servers));
    # Lines the forwarder printed (after letting it print what it has).
    my $lines = sub {
        my ($name, $re) = @_;
        for (1 .. 10) { $tls{$name}{h}->pump_nb; sleep 0.03; }
        return scalar(() = ${ $tls{$name}{out} } =~ /$re/g);
    };
    my $S = $T{sec};

    ($out, $err) = sql("SELECT count(*) " . routed('self_noca_g', $S));
    like($err, qr/ERROR:  HV00N: could not establish a TLS connection to DynamoDB at https:\/\/127\.0\.0\.1:\d+\/: /,
        'a self-signed endpoint without ca_file: ERROR HV00N');
    like($err, qr/HINT:  .*the server option ca_file names a PEM file of CA certificates/, 'with a hint naming ca_file');
    is($out, '', 'and no rows');
    is($lines->('self', qr/^forwarded /m), 0, 'no request was sent over the unverified connection');
    is($lines->('self', qr/^tls-error /m), 1, 'one failed handshake: a TLS failure is not retried');

    # libcurl's error buffer says why the certificate was refused (src/http.c).
    my $self_err = $err;

    ($out, $err) = sql("SELECT count(*) " . routed('self_ca_g', $S));
    is($out, '3', 'with ca_file naming the self-signed certificate, the query works over HTTPS');
    cmp_ok($lines->('self', qr/^forwarded (?:DescribeTable|Scan)$/m), '>=', 1, 'through the TLS endpoint');

    ($out, $err) = sql("SELECT count(*) " . routed('good_ca_g', $S) . ";\nSELECT count(*) " . routed('good_noca_g', $S) . ";");
    is($out, '3', 'a certificate signed by the CA in ca_file works');
    like($err, qr/ERROR:  HV00N: could not establish a TLS connection/,
        'in the same backend, a server without ca_file to the same endpoint fails: the verified connection is not reused');

    ($out, $err) = sql("SELECT count(*) " . routed('wrong_ca_g', $S));
    like($err, qr/ERROR:  HV00N: could not establish a TLS connection to DynamoDB at .*\n(?:.*\n)*HINT:  .*valid for its host name/,
        'a certificate from the trusted CA but for another host name: ERROR HV00N');
    like($self_err, qr/self[- ]signed/, 'the error says the certificate is self-signed');
    like($err, qr/subject name|host ?name/i, 'the error says the certificate is for another host name');
    ($out, $err) = sql("SELECT count(*) " . routed('good_missing_g', $S));
    like($err, qr/ERROR:  HV00N: could not establish a TLS connection to DynamoDB at .*: .*\n(?:.*\n)*HINT:  .*ca_file/,
        'ca_file naming a missing file: ERROR HV00N naming ca_file');
    ($out, $err) = sql("SELECT count(*) " . routed('good_notpem_g', $S));
    like($err, qr/ERROR:  HV00N: could not establish a TLS connection/, 'ca_file naming a file that is not PEM: ERROR HV00N');
    is($lines->('good', qr/^forwarded /m) + $lines->('wrong', qr/^forwarded /m), 2,
        'only the two verified queries sent requests (DescribeTable, Scan of the good one)');
    $_->{h}->kill_kill(grace => 1) for values %tls;
    no_crash('TLS');
    $timing{tls} = time() - $t0;
}

# =====================================================================================================
# Fuzz: thousands of malformed DynamoDB responses (fixed seed) must never crash a backend.
# =====================================================================================================
if (section('fuzz_responses')) {
    my $t0 = time();
    my $F = $T{fuzz};
    # 200 typed tables over as many DynamoDB names: a typed statement picks one, so that it too needs a
    # DescribeTable most of the time.
    $node->safe_psql('postgres', join('', map { "CREATE FOREIGN TABLE fuzz_t$_ (pk text NOT NULL, sk text NOT NULL, "
      . "v numeric, s text, flag boolean, tags text[], doc jsonb, ts timestamptz, b bytea, i integer, "
      . "_item jsonb OPTIONS (raw_item 'true')) SERVER fuzzsrv OPTIONS (table '${F}_t$_');\n" } 0 .. 199));
    srand(20261123);
    # Mostly table names this backend has not described yet: each statement then asks DescribeTable
    # (cached 60 s) before it reads or writes, so most statements meet 2 malformed answers.
    my $table = sub { rand() < 0.2 ? $F : "${F}_" . int(rand(1e6)) };
    my $typed = sub { 'fuzz_t' . int(rand(200)) };
    my @keys = ('a', 'b', "o''brien", '😀', '1');
    my $pick = sub { $_[int(rand(@_))] };
    my @forms = (
        sub { "SELECT count(*), max(document::text), max(oid), max(sort_key) FROM fuzzsrv_g WHERE region = 'us-east-1' AND table_name = '" . $table->() . "'" },
        sub { "SELECT * FROM fuzzsrv_g WHERE region = 'us-east-1' AND table_name = '" . $table->() . "' AND partition_key = '" . $pick->(@keys) . "'" },
        sub { "SELECT document FROM fuzzsrv_g WHERE region = 'us-east-1' AND table_name = '" . $table->() . "' AND partition_key = '" . $pick->(@keys) . "' AND sort_key = '" . $pick->(@keys) . "'" },
        sub { "SELECT * FROM " . $typed->() },
        sub { "SELECT * FROM " . $typed->() . " WHERE pk = '" . $pick->(@keys) . "'" },
        sub { "SELECT pk, v, tags FROM " . $typed->() . " WHERE pk = '" . $pick->(@keys) . "' AND sk = '" . $pick->(@keys) . "'" },
        sub { "SELECT pk FROM " . $typed->() . " LIMIT 2" },
        sub { "INSERT INTO fuzzsrv_g (region, table_name, document) VALUES ('us-east-1', '" . $table->() . "', '{\"pk\": \"a\", \"sk\": \"b\", \"v\": 1}')" },
        sub { "INSERT INTO " . $typed->() . " (pk, sk, v, tags, flag) VALUES ('" . $pick->(@keys) . "', 'b', 1.5, '{x,y}', true)" },
        sub { "UPDATE " . $typed->() . " SET v = 2, s = NULL WHERE pk = '" . $pick->(@keys) . "' AND sk = 'b'" },
        sub { "DELETE FROM fuzzsrv_g WHERE region = 'us-east-1' AND table_name = '" . $table->() . "' AND partition_key = 'a'" },
        sub { "BEGIN; CREATE SCHEMA fz; IMPORT FOREIGN SCHEMA dynamodb FROM SERVER fuzzsrv INTO fz; ROLLBACK" },
        sub { "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM " . $typed->() . " WHERE pk = '" . $pick->(@keys) . "'" },
    );
    faults({ target => '*', action => 'fuzz', times => 1_000_000, seed => 4242 });
    my (%states, @unclear, $alive, $statements);
    for my $session (1 .. 5) {
        my $script = "SET client_min_messages = error;\n";
        for (1 .. 500) { $script .= $pick->(@forms)->() . ";\n"; $statements++; }
        $script .= "SELECT 'alive-$session';\n";
        ($out, $err) = sql($script);
        $alive++ if $out =~ /^alive-$session$/m;
        $states{$1}++ while $err =~ /^(?:psql:\S+ )?ERROR:  ([0-9A-Z]{5}): /mg;
        push @unclear, $1 while $err =~ /^(?:psql:\S+ )?ERROR:  (XX\w{3}: .*|\w{5}: .*(?:attempt to (?:index|call|compare|perform|concatenate)|bad argument|table index is nil|invalid key to 'next'|stack overflow).*)$/mg;
    }
    my $fuzzed = counts()->{fuzzed};
    faults();
    cmp_ok($fuzzed, '>=', 2000, "$fuzzed malformed responses were served to $statements statements in 5 sessions");
    is($alive, 5, 'every session lived to its last statement');
    note('SQLSTATEs of the errors: ' . join(', ', map { "$_ x$states{$_}" } sort keys %states));
    my %seen;
    my @kinds = grep { !$seen{$_}++ } map { my ($st, $m) = /^(\w{5}): (.*)$/s; "$st: " . ($m =~ s/\d+/N/gr) } @unclear;
    is(scalar @unclear, 0, 'every malformed response gave a clear error, never a raw Lua runtime error or XX000');
    note("unclear error: $_") for @kinds[0 .. ($#kinds < 9 ? $#kinds : 9)];
    ($out, $err) = sql("SELECT count(*) " . routed('fuzzsrv_g', $F));
    is($out, '0', 'after the fuzzing the same server answers correctly again');
    no_crash('malformed responses');
    $timing{fuzz_responses} = time() - $t0;
}

# =====================================================================================================
# Fuzz: thousands of random WHERE clauses (fixed seed); a foreign table must answer exactly as a local
# copy of its rows does, whatever the FDW pushes down (keys, IN lists, ranges, prefixes, parameters).
# =====================================================================================================
if (section('fuzz_where')) {
    my $t0 = time();
    my ($W1, $W2, $WT) = ($T{where}, $T{where2}, $T{wheret});
    srand(1123);
    my $pick = sub { $_[int(rand(@_))] };
    my $lit = sub { my $v = shift; return 'NULL' unless defined $v; $v =~ s/'/''/g; return "'$v'"; };
    # Keys and strings: case, trailing space, combining characters, quotes, LIKE wildcards, numbers as text.
    my @pks = ('a', 'A', 'a ', 'b', "o'brien", 'ü', "u\xcc\x88", '😀', '名前', '1', '01', '1.0', 'x,y', '%', 'a_b', 'a%');
    my @sks = ('1', '2', '10', 'a', 'B', 'b', '😀', "it's", ' ', '-', 'a\\b', 'Z');
    my @strs = (@pks, @sks, '', 'zzz', 'Ä', "\xc3\xa4", 'null', '\\', '"');
    my @nums = ('1', '1.5', '1.50', '2', '10', '-3', '0', '0.001', '12345678901234567890', '-0', '1e1', '2.0');

    # The generic tables: 60 and 12 items; the typed table: 60 items, some attributes missing.
    my (@g, @t);
    my $doc = sub {
        my %d;
        $d{v} = $pick->(@nums) + 0 if rand() < 0.8;
        $d{s} = $pick->(@strs) if rand() < 0.8;
        $d{flag} = rand() < 0.5 ? JSON::PP::true : JSON::PP::false if rand() < 0.7;
        $d{n} = { x => $pick->(@strs) } if rand() < 0.5;
        return \%d;
    };
    for my $table ([$W1, 60], [$W2, 12]) {
        my %seen;
        while (keys %seen < $table->[1]) {
            my ($pk, $sk) = ($pick->(@pks), $pick->(@sks));
            next if $seen{"$pk\0$sk"}++;
            push @g, "('us-east-1', '$table->[0]', " . $lit->($pk) . ', ' . $lit->($sk) . ', ' . $lit->($bytes_json->encode($doc->())) . ')';
        }
    }
    my %tseen;
    while (keys %tseen < 60) {
        my ($pk, $sk) = ($pick->(@pks), $pick->(@nums));
        next if $tseen{"$pk\0" . ($sk + 0)}++;
        push @t, '(' . join(', ', $lit->($pk), $sk, rand() < 0.7 ? int(rand(20)) - 5 : 'NULL',
            rand() < 0.7 ? $lit->($pick->(@strs)) : 'NULL', $pick->('true', 'false', 'NULL'),
            rand() < 0.6 ? do { my %u = map { $_ => 1 } ($pick->(@sks), $pick->(@sks)); "ARRAY[" . join(', ', map { $lit->($_) } sort keys %u) . "]::text[]" } : 'NULL',
            rand() < 0.6 ? $lit->($bytes_json->encode($doc->())) : 'NULL') . ')';
    }
    my ($have_icu) = sql("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'");
    my $icu = $have_icu ? '"und-x-icu"' : '"C"';
    $node->safe_psql('postgres', <<"EOS");
INSERT INTO direct_g (region, table_name, partition_key, sort_key, document) VALUES ${\ join(",\n", @g)};
CREATE FOREIGN TABLE where_t (pk text NOT NULL, sk numeric NOT NULL, i integer, s text, flag boolean, tags text[], doc jsonb)
  SERVER faulty OPTIONS (table '$WT');
CREATE FOREIGN TABLE where_load (pk text NOT NULL, sk numeric NOT NULL, i integer, s text, flag boolean, tags text[], doc jsonb)
  SERVER direct OPTIONS (table '$WT');
INSERT INTO where_load VALUES ${\ join(",\n", @t)};
CREATE TABLE local_g AS SELECT * FROM direct_g
 WHERE region IN ('us-east-1', 'us-west-2') AND table_name IN ('$W1', '$W2');
CREATE TABLE local_t AS SELECT * FROM where_load;
-- the same queries through plpgsql parameters (a generic plan after 5 calls)
CREATE FUNCTION g_by_key(p text, s text) RETURNS TABLE (oid text, d text) LANGUAGE plpgsql AS \$\$
BEGIN RETURN QUERY SELECT g.oid, g.document::text FROM faulty_g g WHERE g.region = 'us-east-1' AND g.table_name = '$W1'
  AND g.partition_key = p AND (s IS NULL OR g.sort_key = s); END \$\$;
CREATE FUNCTION g_by_key_local(p text, s text) RETURNS TABLE (oid text, d text) LANGUAGE plpgsql AS \$\$
BEGIN RETURN QUERY SELECT g.oid, g.document::text FROM local_g g WHERE g.region = 'us-east-1' AND g.table_name = '$W1'
  AND g.partition_key = p AND (s IS NULL OR g.sort_key = s); END \$\$;
CREATE FUNCTION t_by_key(p text, lo numeric) RETURNS TABLE (pk text, sk numeric, doc jsonb) LANGUAGE plpgsql AS \$\$
BEGIN RETURN QUERY SELECT t.pk, t.sk, t.doc FROM where_t t WHERE t.pk = p AND t.sk >= lo; END \$\$;
CREATE FUNCTION t_by_key_local(p text, lo numeric) RETURNS TABLE (pk text, sk numeric, doc jsonb) LANGUAGE plpgsql AS \$\$
BEGIN RETURN QUERY SELECT t.pk, t.sk, t.doc FROM local_t t WHERE t.pk = p AND t.sk >= lo; END \$\$;
EOS
    ($out) = sql("SELECT (SELECT count(*) FROM local_g), (SELECT count(*) FROM local_t)");
    is($out, '144|60', 'the local copies hold 2 regions x 72 generic items and 60 typed items');
    is(scalar(@{ ddb_items($W1) }) + scalar(@{ ddb_items($W2) }) . '|' . scalar(@{ ddb_items($WT) }), '72|60',
        'as DynamoDB does');

    # ----- the generator -----
    my $in = sub { my @v = map { $pick->(@_) } 1 .. 1 + int(rand(3)); push @v, 'NULL' if rand() < 0.1; '(' . join(', ', map { $_ eq 'NULL' ? $_ : $lit->($_) } @v) . ')' };
    my $like = sub { $pick->('a%', 'A%', '%b%', '_', '%😀%', "o''%", '1%', 'a\\%%', 'a\\_b%', '%', 'a_%', '名%', 'u%') };
    my $text_atom = sub {
        my ($e, $pool) = @_;
        my $c = $lit->($pick->(@$pool));
        my $f = int(rand(20));
        return ("$e = $c", "$e <> $c", "$e < $c", "$e >= $c", "$e IN " . $in->(@$pool), "$e NOT IN " . $in->(@$pool),
            "$e IS NULL", "$e IS NOT NULL", "$e LIKE '" . $like->() . "'", "$e ILIKE '" . $like->() . "'",
            "$e = $c COLLATE \"C\"", "$e = $c COLLATE case_insensitive", "$c = $e", "$e IS DISTINCT FROM $c",
            "$e BETWEEN $c AND " . $lit->($pick->(@$pool)), "$e = ANY (ARRAY[$c, NULL])", "$e = (SELECT $c)",
            "$e > $c COLLATE $icu", "$e <= $c COLLATE \"C\"", "$e NOT LIKE '" . $like->() . "'")[$f];
    };
    my $num_atom = sub {
        my ($e) = @_;
        my $c = $pick->(@nums);
        my $f = int(rand(12));
        return ("$e = $c", "$e <> $c", "$e < $c", "$e >= $c", "$e IN (" . join(', ', map { $pick->(@nums) } 1 .. 3) . ")",
            "$e NOT IN ($c, NULL)", "$e IS NULL", "$e BETWEEN $c AND " . $pick->(@nums), "$e = ${c}::float8",
            "$e = (SELECT ${c}::numeric)", "$c > $e", "round($e) = 1")[$f];
    };
    my $expr;
    $expr = sub {
        my ($atom, $depth) = @_;
        my $r = rand();
        return $atom->() if $depth >= 3 || $r < 0.45;
        return '(' . $expr->($atom, $depth + 1) . ' AND ' . $expr->($atom, $depth + 1) . ')' if $r < 0.7;
        return '(' . $expr->($atom, $depth + 1) . ' OR ' . $expr->($atom, $depth + 1) . ')' if $r < 0.9;
        return 'NOT (' . $expr->($atom, $depth + 1) . ')';
    };
    my $g_atom = sub {
        my $r = rand();
        return $text_atom->($pick->('partition_key', 'sort_key', "document->>'s'", "document->'n'->>'x'", 'oid'),
            rand() < 0.5 ? \@pks : \@strs) if $r < 0.65;
        return $num_atom->("(document->>'v')::numeric") if $r < 0.85;
        return $pick->("(document->>'flag')::boolean", "NOT (document->>'flag')::boolean", "(document->>'flag')::boolean IS NULL",
            "document::jsonb ? 'n'", "table_name = '$W2'", "region = 'us-west-2'");
    };
    my $t_atom = sub {
        my $r = rand();
        return $text_atom->($pick->('pk', 's', "doc->>'s'"), rand() < 0.5 ? \@pks : \@strs) if $r < 0.45;
        return $num_atom->($pick->('sk', 'sk', 'i', "(doc->>'v')::numeric")) if $r < 0.8;
        return $pick->('flag', 'NOT flag', 'flag IS NULL', 'flag = true', "tags @> ARRAY['a']", "'1' = ANY (tags)", 'tags IS NULL',
            'cardinality(tags) > 1', "tags = '{a,b}'", "doc ? 'n'", "doc @> '{\"flag\": true}'");
    };
    my $g_routing = sub {
        return ($pick->("region = 'us-east-1'", "region IN ('us-east-1')", "region = ANY (ARRAY['us-east-1', 'us-west-2'])",
                "region IN ('us-east-1', 'us-west-2')", "region = 'us-east-1' COLLATE \"C\"", "region = (SELECT 'us-east-1')"),
            $pick->("table_name = '$W1'", "table_name = '$W1'", "table_name IN ('$W1', '$W2')", "table_name = ANY ('{$W1,$W2}')",
                "table_name IN ('$W1', '$W1')", "table_name = (SELECT '$W1')", "'$W2' = table_name"));
    };
    my $g_keys = sub {
        my @k;
        if (rand() < 0.7) {
            my $c = $lit->($pick->(@pks));
            push @k, $pick->("partition_key = $c", "partition_key = $c", "partition_key IN " . $in->(@pks),
                "partition_key = ANY (ARRAY[$c, " . $lit->($pick->(@pks)) . "])", "partition_key = $c COLLATE case_insensitive",
                "partition_key = (SELECT $c)", "$c = partition_key", "partition_key = $c COLLATE \"C\"");
            if (rand() < 0.6) {
                my $s = $lit->($pick->(@sks));
                push @k, $pick->("sort_key = $s", "sort_key IN " . $in->(@sks), "sort_key < $s", "sort_key >= $s",
                    "sort_key BETWEEN $s AND " . $lit->($pick->(@sks)), "sort_key LIKE '" . $like->() . "'",
                    "sort_key > $s COLLATE $icu", "sort_key = (SELECT $s)", "sort_key <= $s COLLATE \"C\"",
                    "sort_key > $s AND sort_key < " . $lit->($pick->(@sks)));
            }
        }
        return @k;
    };
    my $t_keys = sub {
        my @k;
        if (rand() < 0.7) {
            my $c = $lit->($pick->(@pks));
            push @k, $pick->("pk = $c", "pk = $c", "pk IN " . $in->(@pks), "pk = $c COLLATE case_insensitive",
                "pk = (SELECT $c)", "$c = pk", "pk = ANY (ARRAY[$c, 'b'])");
            if (rand() < 0.6) {
                my $n = $pick->(@nums);
                push @k, $pick->("sk = $n", "sk IN ($n, " . $pick->(@nums) . ")", "sk < $n", "sk >= $n",
                    "sk BETWEEN $n AND " . $pick->(@nums), "sk = (SELECT ${n}::numeric)", "sk = ${n}::float8",
                    "sk > $n AND sk <= " . $pick->(@nums), "sk = ${\ int(rand(3))}::integer", "sk::text = '$n'",
                    "sk IN ($n, $n)");
            }
        }
        return @k;
    };
    my $gcols = "oid, region, table_name, partition_key, sort_key, document::text";
    my $tcols = "pk, sk, i, s, flag, tags, doc";
    # One line per query: its number, the rows the foreign table returned, and the rows that differ.
    my $compare = sub {
        my ($i, $ft, $local, $cols, $where, $order) = @_;
        if ($order) {
            my $sub = sub { "(SELECT string_agg(x, '|') FROM (SELECT ($cols)::text AS x FROM $_[0] WHERE $where ORDER BY $order) o)" };
            return "SELECT $i, (SELECT count(*) FROM $ft WHERE $where), (" . $sub->($ft) . ' IS DISTINCT FROM ' . $sub->($local) . ')::int;';
        }
        return "WITH f AS MATERIALIZED (SELECT $cols FROM $ft WHERE $where), l AS MATERIALIZED (SELECT $cols FROM $local WHERE $where) "
          . "SELECT $i, (SELECT count(*) FROM f), (SELECT count(*) FROM (SELECT * FROM f EXCEPT ALL SELECT * FROM l) a) "
          . "+ (SELECT count(*) FROM (SELECT * FROM l EXCEPT ALL SELECT * FROM f) b);";
    };
    my @queries;
    for my $i (1 .. 2000) {
        my $generic = $i % 2;
        my $r = rand();
        if ($r < 0.05) {    # through plpgsql parameters
            push @queries, $generic
              ? do { my ($p, $s) = ($lit->($pick->(@pks)), rand() < 0.5 ? 'NULL' : $lit->($pick->(@sks)));
                "SELECT $i, (SELECT count(*) FROM g_by_key($p, $s)), (SELECT count(*) FROM (SELECT * FROM g_by_key($p, $s) "
                  . "EXCEPT ALL SELECT * FROM g_by_key_local($p, $s)) a) + (SELECT count(*) FROM (SELECT * FROM g_by_key_local($p, $s) "
                  . "EXCEPT ALL SELECT * FROM g_by_key($p, $s)) b);" }
              : do { my ($p, $n) = ($lit->($pick->(@pks)), $pick->(@nums));
                "SELECT $i, (SELECT count(*) FROM t_by_key($p, $n)), (SELECT count(*) FROM (SELECT * FROM t_by_key($p, $n) "
                  . "EXCEPT ALL SELECT * FROM t_by_key_local($p, $n)) a) + (SELECT count(*) FROM (SELECT * FROM t_by_key_local($p, $n) "
                  . "EXCEPT ALL SELECT * FROM t_by_key($p, $n)) b);" };
            next;
        }
        if ($r < 0.12) {    # a join on the partition key (a parameterized path: one Query per outer row)
            my $keys = join(', ', map { '(' . $lit->($pick->(@pks)) . ')' } 1 .. 1 + int(rand(4)));
            my $join = $pick->('JOIN', 'LEFT JOIN');
            push @queries, $generic
              ? $compare->($i, "(VALUES $keys) v(k) $join faulty_g g ON g.partition_key = v.k AND g.region = 'us-east-1' AND g.table_name = '$W1'",
                "(VALUES $keys) v(k) $join local_g g ON g.partition_key = v.k AND g.region = 'us-east-1' AND g.table_name = '$W1'",
                'v.k, g.oid, g.document::text', 'true')
              : $compare->($i, "(VALUES $keys) v(k) $join where_t t ON t.pk = v.k", "(VALUES $keys) v(k) $join local_t t ON t.pk = v.k",
                'v.k, t.pk, t.sk, t.doc', 'true');
            next;
        }
        my @conj = $generic ? ($g_routing->(), $g_keys->()) : $t_keys->();
        push @conj, $expr->($generic ? $g_atom : $t_atom, 0) for 1 .. int(rand(3));
        push @conj, 'true' unless @conj;
        my $where = join(' AND ', @conj);
        my $order;
        if (rand() < 0.15) {    # ORDER BY the sort key (the FDW may return Query pages in key order)
            $order = $generic ? $pick->('sort_key, oid', 'sort_key DESC, oid', "sort_key COLLATE $icu, oid", 'partition_key, sort_key')
                              : $pick->('sk, pk', 'sk DESC, pk', 'pk, sk', 'pk DESC, sk DESC');
            $order .= ' LIMIT ' . (1 + int(rand(5))) if rand() < 0.5;
        }
        push @queries, $compare->($i, $generic ? 'faulty_g' : 'where_t', $generic ? 'local_g' : 'local_t',
            $generic ? $gcols : $tcols, $where, $order);
        die "query $i has a newline" if $queries[-1] =~ /\n/;
    }
    # Two sessions: the planner's own choice, and nested loops only (parameterized paths for the joins).
    faults();
    my (%result, @errors);
    my $half = @queries / 2;
    for my $part ([0, "SET client_min_messages = error;\n"],
                  [1, "SET client_min_messages = error;\nSET enable_hashjoin = off;\nSET enable_mergejoin = off;\n"]) {
        my ($n, $head) = @$part;
        my @mine = @queries[$n * $half .. ($n + 1) * $half - 1];
        ($out, $err) = sql($head . join("\n", @mine) . "\n");
        for (split /\n/, $out) { my ($i, $rows, $diff) = split /\|/; $result{$i} = [$rows, $diff] if defined $diff; }
        my $lines_before = () = $head =~ /\n/g;
        while ($err =~ /^psql:<stdin>:(\d+): (ERROR:  .*)$/mg) { push @errors, "$2 IN: " . $mine[$1 - $lines_before - 1]; }
    }
    # A list (IN, ANY (ARRAY[...])) that names one value twice (or two equal numbers).
    my $dup_list = sub {
        my ($q) = @_;
        while ($q =~ /\b(?:IN|ARRAY)\s*[\(\[]((?:'(?:[^']|'')*'|[^'\)\]])*)[\)\]]/g) {
            my %seen;
            for my $v ($1 =~ /'(?:[^']|'')*'|[^,\s]+/g) {
                next if $v eq 'NULL';
                my $k = $v =~ /^-?[\d.]+(?:e\d+)?$/ ? 0 + $v : $v;
                return 1 if $seen{$k}++;
            }
        }
        return 0;
    };
    my @differ_all = grep { $result{$_}[1] != 0 } sort { $a <=> $b } keys %result;
    my @differ = grep { !$dup_list->($queries[$_ - 1]) } @differ_all;
    my @differ_dup = grep { $dup_list->($queries[$_ - 1]) } @differ_all;
    my $dups = grep { $dup_list->($_) } @queries;
    my $nonempty = grep { $_->[0] > 0 } values %result;
    my $empty_key = qr/cannot contain an empty string value/;
    my @known = grep { /$empty_key/ } @errors;
    @errors = grep { !/$empty_key/ } @errors;
    is(scalar(@errors), 0, scalar(@queries) . ' random WHERE clauses ran without an error'
      . (@known ? ' (but ' . scalar(@known) . ' with an empty key on the typed table, below)' : ''))
      or diag(join("\n", @errors[0 .. ($#errors < 4 ? $#errors : 4)]));
    is(scalar(keys %result) + @known, scalar(@queries), 'each one printed its line');
    is(scalar(@differ), 0, 'every one (but those with a value twice in a list, below) returned the same rows from the '
      . 'foreign table as from the local copy')
      or diag(join("\n", map { "query $_ ($result{$_}[0] rows, $result{$_}[1] differ): " . $queries[$_ - 1] } @differ[0 .. ($#differ < 4 ? $#differ : 4)]));
    is(scalar(@differ_dup), 0, "the $dups queries with a value twice in a list return each row once");
    is(scalar(@known), 0, 'an empty key value on the typed table means no rows, not an error');
    # The two bugs, each in one deterministic statement.
    ($out, $err) = sql("SELECT count(*) FROM where_t WHERE pk = ''");
    is($out, '0', "typed table: WHERE pk = '' returns no rows");
    my ($pk1) = sql("SELECT pk FROM local_t GROUP BY pk ORDER BY count(*) DESC, pk LIMIT 1");
    my ($want) = sql("SELECT count(*) FROM local_t WHERE pk = " . $lit->($pk1));
    ($out) = sql("SELECT count(*) FROM where_t WHERE pk IN (" . $lit->($pk1) . ', ' . $lit->($pk1) . ")");
    my ($gout) = sql("SELECT count(*) FROM faulty_g WHERE region = 'us-east-1' AND table_name IN ('$W1', '$W1')");
    is($out, $want, 'typed table: pk IN (x, x) returns each row once');
    is($gout, 60, 'generic table: table_name IN (t, t) returns each row once');
    cmp_ok($nonempty, '>', @queries / 4, "and the conditions are not trivially empty ($nonempty queries returned rows)");
    $c = counts();
    note('DynamoDB operations of the fuzz: ' . join(', ', map { "$_ $c->{ops}{$_}" } sort keys %{ $c->{ops} }));
    ok(($c->{ops}{GetItem} // 0) > 100 && ($c->{ops}{Query} // 0) > 300 && ($c->{ops}{Scan} // 0) > 100,
        'the keys were pushed down (GetItem and Query) as often as not (Scan)');
    no_crash('random WHERE clauses');
    $timing{fuzz_where} = time() - $t0;
}

# =====================================================================================================
# Security: what a non-superuser cannot do (t/sql/001_extension.sql covers SET of the GUCs and the mapping
# option at CREATE FOREIGN TABLE; t/001 the sandbox; t/002 secrets in logs).
# =====================================================================================================
if (section('security')) {
    my $t0 = time();
    my $S = $T{sec};
    my $default_path = $node->safe_psql('postgres', "LOAD 'dynamo_lua_fdw'; SHOW dynamo_lua_fdw.script_path");
    $node->safe_psql('postgres', <<"EOS");
SET log_statement = 'none';
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE SERVER secsrv FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', max_retries '1');
CREATE FOREIGN TABLE sec_g (oid text, region text, table_name text, partition_key text, sort_key text, document json)
  SERVER secsrv;
GRANT USAGE ON FOREIGN SERVER secsrv TO alice, bob;
GRANT SELECT ON sec_g TO alice, bob;
CREATE USER MAPPING FOR alice SERVER secsrv OPTIONS (access_key_id 'AKIDRELALICE', secret_access_key 'relAliceSecret0001');
GRANT USAGE ON FOREIGN DATA WRAPPER dynamo_lua_fdw TO bob;
GRANT CREATE ON SCHEMA public TO bob;
GRANT USAGE ON SCHEMA dynamo_lua_fdw TO bob;
EOS
    my $as = sub { my ($user, $q, %o) = @_; sql($q, connstr => $node->connstr('postgres') . " user=$user", %o) };
    my $umq = "SELECT coalesce(array_to_string(umoptions, ','), '<hidden>') FROM pg_user_mappings "
      . "WHERE srvname = 'secsrv' AND usename = 'alice'";

    # Other users' user mappings.
    ($out, $err) = $as->('bob', $umq);
    is($out, '<hidden>', "pg_user_mappings shows bob alice's mapping without its options");
    ($out, $err) = $as->('alice', $umq);
    like($out, qr/secret_access_key=relAliceSecret0001/, 'alice sees her own options');
    ($out, $err) = $as->('bob', "SELECT count(*) FROM pg_catalog.pg_user_mapping");
    like($err, qr/ERROR:  42501: permission denied for table pg_user_mapping/, 'bob cannot read pg_user_mapping');
    faults();
    ($out, $err) = $as->('bob', "SELECT count(*) " . routed('sec_g', $S));
    is($out, '3', 'bob can query the table');
    my $keys = counts()->{access_keys};
    ok(!(grep { $_ eq 'AKIDRELALICE' } @$keys), "bob's query is not signed with alice's key (@$keys)");
    faults();
    ($out, $err) = $as->('alice', "SELECT count(*) " . routed('sec_g', $S));
    is_deeply([$out, counts()->{access_keys}], ['3', ['AKIDRELALICE']], "alice's query is signed with her key");
    ($out, $err) = $as->('bob', "SET dynamo_lua_fdw.script_path = '/nonexistent'; SET client_min_messages = debug5;\n"
      . "EXPLAIN (VERBOSE, COSTS OFF) SELECT * " . routed('sec_g', $S) . " AND partition_key = 's1';\n"
      . "SELECT * " . routed('sec_g', $S) . " AND partition_key = 's1'");
    unlike($out . $err, qr/relAliceSecret0001|AKIDRELALICE/, "nothing bob sees (EXPLAIN VERBOSE, DEBUG messages) names alice's key");

    # The script path: every way a non-superuser might set it.
    ($out, $err) = $as->('bob', "ALTER SYSTEM SET dynamo_lua_fdw.script_path = '/tmp/evil'");
    like($err, qr/ERROR:  42501: (?:must be superuser|permission denied)/, 'bob cannot ALTER SYSTEM SET dynamo_lua_fdw.script_path');
    ($out, $err) = $as->('bob', "SET client_min_messages = error;\nSELECT count(*) " . routed('sec_g', $S) . ";\n"
      . "SELECT set_config('dynamo_lua_fdw.script_path', '/tmp/evil', false)");
    like($err, qr/ERROR:  42501: permission denied to set parameter "dynamo_lua_fdw.script_path"/, 'nor with set_config()');
    ($out, $err) = $as->('bob', "CREATE FUNCTION evil() RETURNS int LANGUAGE sql SET dynamo_lua_fdw.script_path = '/tmp/evil' AS 'SELECT 1'");
    like($err, qr/ERROR:  42501: permission denied to set parameter "dynamo_lua_fdw.script_path"/,
        'nor in a function\'s SET clause');
    ($out, $err) = $as->('bob', "ALTER ROLE bob SET dynamo_lua_fdw.script_path = '/tmp/evil'");
    my $role_set = $err !~ /ERROR/;
    # Before the library is loaded a session may hold a placeholder value; it must be dropped at load.
    ($out, $err) = $as->('bob', "SET client_min_messages = warning;\nSET dynamo_lua_fdw.script_path = '/tmp/evil';\n"
      . "SELECT count(*) " . routed('sec_g', $S) . ";\nSHOW dynamo_lua_fdw.script_path;");
    is($out, "3\n$default_path", 'a value bob set before the library was loaded is dropped when it loads: the default scripts run'
      . ($role_set ? ' (ALTER ROLE bob SET was accepted as a placeholder)' : ''));
    like($err, qr/WARNING:  42501: permission denied to set parameter "dynamo_lua_fdw.script_path"/, 'with a warning');
    {
        local $ENV{PGOPTIONS} = '-c dynamo_lua_fdw.script_path=/tmp/evil';
        ($out, $err) = $as->('bob', "SELECT count(*) " . routed('sec_g', $S) . ";\nSHOW dynamo_lua_fdw.script_path;");
        is($out, "3\n$default_path", 'the same for a value given at connection time (PGOPTIONS)');
    }
    $node->safe_psql('postgres', "ALTER ROLE bob RESET ALL");

    # ca_file and mapping on objects bob owns.
    ($out, $err) = $as->('bob', "CREATE SERVER bob_bad FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', ca_file '/etc/passwd')");
    like($err, qr/ERROR:  42501: only superusers may set option "ca_file"/, 'bob cannot create a server with ca_file');
    ($out, $err) = $as->('bob', "CREATE SERVER bob_srv FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl');\n"
      . "ALTER SERVER bob_srv OPTIONS (ADD ca_file '/etc/passwd');");
    like($err, qr/ERROR:  42501: only superusers may set option "ca_file"/, 'nor add ca_file to his own server');
    ($out, $err) = $as->('bob', "CREATE FOREIGN TABLE bob_t (oid text, region text, table_name text, partition_key text, "
      . "sort_key text, document json) SERVER bob_srv;\nALTER FOREIGN TABLE bob_t OPTIONS (ADD mapping 'generic');");
    like($err, qr/ERROR:  42501: only superusers may set option "mapping"/, 'nor add a mapping script to his own table');
    ($out, $err) = $as->('bob', "SELECT dynamo_lua_fdw.check_script('generic')");
    like($err, qr/ERROR:  42501: permission denied for function check_script/,
        'nor run check_script() (even with USAGE on its schema)');
    ($out) = sql("SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'bob_srv'");
    is($out, "{endpoint=$purl}", 'his server has no ca_file');

    # Observation (see docs/RELIABILITY.md): a server bob created, with no user mapping, is used with the
    # database server's own credentials (here the container credentials), towards an endpoint he chose.
    faults();
    ($out, $err) = $as->('bob', "SELECT count(*) FROM bob_t WHERE region = 'us-east-1' AND table_name = '$S'");
    $c = counts();
    note("bob's own server with no user mapping: $out rows, signed by @{ $c->{access_keys} }, "
      . scalar(@{ $c->{session_token_sha256} }) . " session token(s) sent to bob's endpoint");
    no_crash('security');
    $timing{security} = time() - $t0;
}

# ---------- cleanup ----------
$node->stop;
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated by exception|PANIC:/, 'the whole run: no backend crashed');
eval { ddb('DeleteTable', { TableName => $_ }) } for values %T;
$proxy->{h}->kill_kill(grace => 2);
note(sprintf('004_reliability took %.1f s (%s)', time() - $started,
    join(', ', map { sprintf('%s %.1f s', $_, $timing{$_}) } sort keys %timing)));
done_testing();
