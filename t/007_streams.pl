# Kinesis records under faults and concurrency (issue 13). pg_regress (t/sql/090_*.sql) covers the SQL
# behaviour; this file puts a small proxy between the FDW and kinesalite that fails chosen records of a
# PutRecords (kinesalite never does) and checks, by reading the stream directly:
#   partial failures   only the failed records are sent again: no record lost or doubled, per-key order kept
#   throttled requests a whole PutRecords refused is sent again, once
#   giving up          after max_retries the COMMIT fails, saying how many records went out
#   concurrency        two sessions: records go out at each one's COMMIT, never a rolled-back one's
#   privileges         the trigger inserts as the user who changed the row: no INSERT on the stream table, no record
#   DynamoDB first     a commit whose DynamoDB writes fail sends no Kinesis records
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use DlfTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{DLF_ROOT} or die "DLF_ROOT is not set";
my $kin = $ENV{KINESIS_ENDPOINT} or die "KINESIS_ENDPOINT is not set (t/bin/run-tests.sh starts kinesalite)";
my $ddb = $ENV{DDB_ENDPOINT} or die "DDB_ENDPOINT is not set";
my $json = JSON::PP->new->canonical;

# ---------- kinesalite directly ----------
sub new_stream {
    my ($name, $shards) = @_;
    system('bash', '-c', '. "$1/t/bin/lib.sh" && dlf_kinesis_stream "$2" "$3"', 'bash', $root, $name, $shards) == 0
      or die "could not create stream $name";
}

# Every record of a stream, read without the FDW: [{shard, seq, key, data}], each shard in order.
my $read_js = <<'JS';
const [url, stream] = process.argv.slice(1);
const u = new URL(url);
function call(op, body) {
  return new Promise((resolve, reject) => {
    const req = require('http').request({ host: u.hostname, port: u.port, path: '/', method: 'POST', headers: {
      'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.' + op, 'X-Amz-Date': '20260101T000000Z',
      'Authorization': 'AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0' } },
      (res) => { let s = ''; res.on('data', (c) => s += c); res.on('end', () => res.statusCode === 200 ? resolve(JSON.parse(s)) : reject(new Error(s))); });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
(async () => {
  const out = [];
  for (const shard of (await call('ListShards', { StreamName: stream })).Shards) {
    let it = (await call('GetShardIterator', { StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' })).ShardIterator;
    for (;;) {
      const page = await call('GetRecords', { ShardIterator: it });
      for (const r of page.Records) out.push({ shard: shard.ShardId, seq: r.SequenceNumber, key: r.PartitionKey,
        data: Buffer.from(r.Data, 'base64').toString('utf8') });
      it = page.NextShardIterator;
      if (!it || (page.Records.length === 0 && page.MillisBehindLatest === 0)) break;
    }
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e.message); process.exit(1); });
JS

sub stream_records {
    my ($stream) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['node', '-e', $read_js, $kin, $stream], '>', \$out, '2>', \$err) or die "reading $stream: $err";
    return $json->decode($out);
}

# ---------- the record-failing proxy in front of kinesalite ----------
# POST /__plan {"fail_every": n, "fail_requests": m}: in the next m PutRecords, every n-th record (the
#   1st, the n+1st, ...) is not forwarded and answered with ProvisionedThroughputExceededException;
#   {"fail_key": "k"}: records of partition key k always fail; {"throttle": m}: the next m PutRecords
#   are refused whole (400 ProvisionedThroughputExceededException).
# GET /__counts {put_records, records_in, records_forwarded, failed_records, throttled}; POST /__reset.
my $proxy_js = <<'JS';
const http = require('http');
const upstream = new URL(process.argv[1]);
const agent = new http.Agent({ keepAlive: true });
const fresh = () => ({ plan: { fail_every: 0, fail_requests: 0, fail_key: null, throttle: 0 },
  counts: { put_records: 0, records_in: 0, records_forwarded: 0, failed_records: 0, throttled: 0 } });
let s = fresh();
function forward(req, body, cb) {
  const headers = Object.assign({}, req.headers, { host: upstream.host, 'content-length': Buffer.byteLength(body) });
  const r = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent, headers },
    (res) => { const out = []; res.on('data', (c) => out.push(c)); res.on('end', () => cb(res, Buffer.concat(out))); });
  r.on('error', (e) => cb(null, Buffer.from(String(e))));
  r.end(body);
}
function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    if (req.url === '/__plan') { Object.assign(s.plan, JSON.parse(body)); return answer(res, 200, {}); }
    if (req.url === '/__counts') return answer(res, 200, s.counts);
    if (req.url === '/__reset') { s = fresh(); return answer(res, 200, {}); }
    if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords') {
      return forward(req, body, (up, out) => answer(res, up ? up.statusCode : 502, out.toString()));
    }
    const c = s.counts, p = s.plan, input = JSON.parse(body);
    c.put_records++;
    c.records_in += input.Records.length;
    if (p.throttle > 0) {
      p.throttle--; c.throttled++;
      return answer(res, 400, { __type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded for stream' });
    }
    const failing = p.fail_requests > 0 && p.fail_every > 0;
    if (p.fail_requests > 0) p.fail_requests--;
    const fail = input.Records.map((r, i) => (failing && i % p.fail_every === 0) || r.PartitionKey === p.fail_key);
    const kept = input.Records.filter((r, i) => !fail[i]);
    const reply = (results) => {
      let k = 0, failed = 0;
      const all = input.Records.map((r, i) => fail[i]
        ? (failed++, { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' })
        : results[k++]);
      c.failed_records += failed; c.records_forwarded += kept.length;
      answer(res, 200, { FailedRecordCount: failed, Records: all });
    };
    if (kept.length === 0) return reply([]);
    forward(req, JSON.stringify(Object.assign({}, input, { Records: kept })), (up, out) => {
      if (!up || up.statusCode !== 200) return answer(res, up ? up.statusCode : 502, out.toString());
      reply(JSON.parse(out.toString()).Records);
    });
  });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
JS

my $proxy = DlfTest::start_helper(['node', '-e', $proxy_js, $kin], 'the Kinesis record proxy');
my $purl = "http://127.0.0.1:$proxy->{port}";
sub plan_faults { DlfTest::proxy_post($proxy, '/__reset'); DlfTest::proxy_post($proxy, '/__plan', {@_}); }
sub counts { DlfTest::proxy_counts($proxy) }

# ---------- PostgreSQL ----------
my $node = PostgreSQL::Test::Cluster->new('streams');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\n");
$node->start;
my $ddb_proxy = DlfTest::start_fault_proxy($root, $ddb);
$node->safe_psql('postgres', <<"EOS");
CREATE EXTENSION dynamo_lua_fdw;
CREATE SERVER kin FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', max_retries '4');
CREATE SERVER kin_impatient FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', max_retries '2');
CREATE SERVER ddb_faulty FOREIGN DATA WRAPPER dynamo_lua_fdw
  OPTIONS (endpoint 'http://127.0.0.1:$ddb_proxy->{port}', max_retries '0');
EOS

sub psql {
    my ($sql) = @_;
    my ($out, $err) = ('', '');
    $node->psql('postgres', $sql, stdout => \$out, stderr => \$err, on_error_stop => 0);
    return ($out, $err);
}

# Per partition key, the "data" of its records in stream order (a key stays on one shard).
sub by_key {
    my ($records) = @_;
    my %k;
    for my $r (sort { $a->{shard} cmp $b->{shard} || length($a->{seq}) <=> length($b->{seq}) || $a->{seq} cmp $b->{seq} } @$records) {
        push @{ $k{ $r->{key} } }, $r->{data};
    }
    return \%k;
}

# ---------- partial failures: only the failed records again, in order ----------
{
    new_stream('tap_capture', 2);
    $node->safe_psql('postgres', <<'EOS');
CREATE FOREIGN TABLE orders_stream (partition_key text, data json) SERVER kin OPTIONS (mapping 'kinesis', stream 'tap_capture');
CREATE TABLE orders (id int PRIMARY KEY, v int);
CREATE TRIGGER orders_to_kinesis AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('orders_stream');
EOS
    plan_faults(fail_every => 7, fail_requests => 3);   # 7: a row's INSERT and UPDATE fare differently
    my ($out, $err) = psql(<<'EOS');
BEGIN;
INSERT INTO orders SELECT i, 0 FROM generate_series(1, 300) i;
UPDATE orders SET v = 1;
UPDATE orders SET v = 2;
COMMIT;
EOS
    is($err, '', 'capture: the commit succeeds although PutRecords failed records three times');
    my $c = counts();
    ok($c->{failed_records} > 0, "capture: the proxy failed $c->{failed_records} records");
    is($c->{records_in}, 900 + $c->{failed_records}, 'capture: only the failed records were sent again');
    is($c->{records_forwarded}, 900, 'capture: 900 records reached the stream');
    my $records = stream_records('tap_capture');
    is(scalar(@$records), 900, 'capture: the stream holds 900 records');
    my %seen;
    $seen{ $_->{data} }++ for @$records;
    is(scalar(grep { $_ > 1 } values %seen), 0, 'capture: no record twice');
    my $k = by_key($records);
    is(scalar(keys %$k), 300, 'capture: one partition key per row');
    my @bad = grep {
        my @ops = map { my $d = decode_json($_); $d->{operation} . ':' . $d->{columns}{v}{new}{v} } @{ $k->{$_} };
        join(',', @ops) ne 'INSERT:0,UPDATE:1,UPDATE:2'
    } keys %$k;
    is(scalar(@bad), 0, "capture: every row's records in statement order (out of order: @bad[0 .. ($#bad < 2 ? $#bad : 2)])");
    # requests: one per statement's records (a repeated key starts a request), plus the retries
    is($c->{put_records}, 3 + 3, 'capture: 3 requests and 3 retries');
}

# ---------- a whole request throttled ----------
{
    new_stream('tap_plain', 1);
    $node->safe_psql('postgres',
        "CREATE FOREIGN TABLE plain (partition_key text, data text) SERVER kin OPTIONS (mapping 'kinesis', stream 'tap_plain')");
    plan_faults(throttle => 2);
    my ($out, $err) = psql("INSERT INTO plain SELECT 'k' || i, 'r' || i FROM generate_series(1, 10) i");
    is($err, '', 'throttled: the commit succeeds');
    is(counts()->{put_records}, 3, 'throttled: the request was sent three times');
    my $records = stream_records('tap_plain');
    is(join(',', map { $_->{data} } @$records), join(',', map { "r$_" } 1 .. 10), 'throttled: each record once, in order');
}

# ---------- giving up: the COMMIT fails and says what went out ----------
{
    new_stream('tap_doomed', 1);
    $node->safe_psql('postgres', <<'EOS');
CREATE FOREIGN TABLE doomed_stream (partition_key text, data text) SERVER kin_impatient
  OPTIONS (mapping 'kinesis', stream 'tap_doomed', ordering 'none');
CREATE TABLE doomed_log (k text);
EOS
    plan_faults(fail_key => 'doomed');
    my ($out, $err) = psql(<<'EOS');
BEGIN;
INSERT INTO doomed_log VALUES ('written?');
INSERT INTO doomed_stream VALUES ('ok1', 'a'), ('doomed', 'b'), ('ok2', 'c');
COMMIT;
EOS
    like($err, qr/Kinesis stream "tap_doomed" refused 1 records after 3 attempts: ProvisionedThroughputExceededException/,
        'giving up: the error names the stream, the count and the code');
    like($err, qr/2 of 3 buffered Kinesis records were sent before the failure/, 'giving up: the detail says what went out');
    like($err, qr/max_retries/, 'giving up: the hint names max_retries');
    is($node->safe_psql('postgres', 'SELECT count(*) FROM doomed_log'), '0', 'giving up: the transaction rolled back');
    is(counts()->{put_records}, 3, 'giving up: the first try and max_retries (2) retries');
    is(join(',', map { $_->{data} } @{ stream_records('tap_doomed') }), 'a,c', 'giving up: the records sent stay, once');
}

# ---------- two sessions: each one's records at its COMMIT, none of a ROLLBACK ----------
{
    new_stream('tap_sessions', 1);
    $node->safe_psql('postgres', <<'EOS');
CREATE FOREIGN TABLE sessions_stream (partition_key text, data json) SERVER kin OPTIONS (mapping 'kinesis', stream 'tap_sessions');
CREATE TABLE accounts (id int PRIMARY KEY, owner text);
CREATE TRIGGER accounts_to_kinesis AFTER INSERT OR UPDATE OR DELETE ON accounts
  FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('sessions_stream');
EOS
    plan_faults();
    my $s1 = DlfSession->new($node);
    my $s2 = DlfSession->new($node);
    $s1->query("BEGIN; INSERT INTO accounts VALUES (1, 'one')");
    $s2->query("BEGIN; INSERT INTO accounts VALUES (2, 'two'); SAVEPOINT a; INSERT INTO accounts VALUES (3, 'three')");
    is(counts()->{put_records}, 0, 'sessions: nothing is sent before a COMMIT');
    $s2->query("ROLLBACK TO SAVEPOINT a; UPDATE accounts SET owner = 'TWO' WHERE id = 2; COMMIT");
    my @after2 = map { decode_json($_->{data}) } @{ stream_records('tap_sessions') };
    is(join(',', map { "$_->{operation}:$_->{columns}{id}{new}{v}" } @after2), 'INSERT:2,UPDATE:2',
        "sessions: the second session's COMMIT sends its records, not the savepoint's");
    $s1->query("ROLLBACK");
    $s1->query("INSERT INTO accounts VALUES (4, 'four')");
    my @all = map { decode_json($_->{data}) } @{ stream_records('tap_sessions') };
    is(join(',', map { "$_->{operation}:$_->{columns}{id}{new}{v}" } @all), 'INSERT:2,UPDATE:2,INSERT:4',
        "sessions: the rolled-back session's record never goes out; its next transaction's does");
    $s1->quit;
    $s2->quit;
}

# ---------- privileges: the trigger runs as the user who changes the row ----------
{
    new_stream('tap_users', 1);
    $node->safe_psql('postgres', <<'EOS');
CREATE FOREIGN TABLE users_stream (partition_key text, data json) SERVER kin OPTIONS (mapping 'kinesis', stream 'tap_users');
CREATE ROLE alice LOGIN;
CREATE ROLE mallory LOGIN;
GRANT USAGE ON SCHEMA dynamo_lua_fdw TO alice, mallory;
GRANT USAGE ON FOREIGN SERVER kin TO alice, mallory;
GRANT CREATE ON SCHEMA public TO alice, mallory;
GRANT INSERT ON users_stream TO alice;
EOS
    plan_faults();
    my ($out, $err) = psql(<<'EOS');
SET ROLE alice;
CREATE TABLE alice_t (id int PRIMARY KEY);
CREATE TRIGGER t AFTER INSERT ON alice_t FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('public.users_stream');
INSERT INTO alice_t VALUES (1);
EOS
    is($err, '', 'privileges: a user with INSERT on the stream table captures her table');
    ($out, $err) = psql(<<'EOS');
SET ROLE mallory;
CREATE TABLE mallory_t (id int PRIMARY KEY);
CREATE TRIGGER t AFTER INSERT ON mallory_t FOR EACH ROW EXECUTE FUNCTION dynamo_lua_fdw.kinesis_capture('public.users_stream');
INSERT INTO mallory_t VALUES (1);
EOS
    like($err, qr/permission denied for foreign table users_stream/, 'privileges: without INSERT on the stream table, no record');
    is(join(',', map { decode_json($_->{data})->{table} } @{ stream_records('tap_users') }), 'public.alice_t',
        "privileges: only alice's record is in the stream");
}

# ---------- DynamoDB writes fail at COMMIT: no Kinesis records ----------
{
    my ($o, $e) = ('', '');
    IPC::Run::run(['node', "$root/t/bin/ddb.js", $ddb, 'call', 'CreateTable', $json->encode({ TableName => 'tap_streams_ddb',
        BillingMode => 'PAY_PER_REQUEST', AttributeDefinitions => [{ AttributeName => 'id', AttributeType => 'S' }],
        KeySchema => [{ AttributeName => 'id', KeyType => 'HASH' }] })], '>', \$o, '2>', \$e)
      or die "CreateTable: $e";
    $node->safe_psql('postgres',
        "CREATE FOREIGN TABLE ddb_t (id text NOT NULL, v text) SERVER ddb_faulty OPTIONS (table 'tap_streams_ddb')");
    DlfTest::proxy_post($ddb_proxy, '/__faults', [{ target => 'BatchWriteItem', action => 'validation', times => 1 }]);
    plan_faults();
    my ($out, $err) = psql(<<'EOS');
BEGIN;
INSERT INTO accounts VALUES (5, 'five');
INSERT INTO ddb_t VALUES ('x', 'y');
COMMIT;
EOS
    like($err, qr/ERROR/, 'DynamoDB first: the DynamoDB write fails the COMMIT');
    is(counts()->{put_records}, 0, 'DynamoDB first: no PutRecords was sent');
    is(scalar(@{ stream_records('tap_sessions') }), 3, 'DynamoDB first: the stream has no record of the transaction');
    is($node->safe_psql('postgres', 'SELECT count(*) FROM accounts WHERE id = 5'), '0', 'DynamoDB first: the row rolled back');
    IPC::Run::run(['node', "$root/t/bin/ddb.js", $ddb, 'call', 'DeleteTable', '{"TableName":"tap_streams_ddb"}'], '>', \$o, '2>', \$e);
}

# ---------- cleanup ----------
$node->stop;
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated by exception|PANIC:/, 'no backend crashed');
$proxy->{h}->kill_kill(grace => 2);
$ddb_proxy->{h}->kill_kill(grace => 2);
done_testing();
