# The example mapping scripts of lua/examples/, installed the way a user installs a script: into
# dynamo_lua_fdw/mappings/ of a scratch dynamo_lua_fdw.script_path, used with OPTIONS (mapping '<name>').
#   orders.lua     single-table design: user_id/order_date pushed down as a Query key condition
#   ttl.lua        expired-but-not-yet-deleted items hidden, the TTL attribute as timestamptz
#   customers.lua  renamed attributes and a computed column
# Also: hot reload seen by two open backends, a syntax error and its fix, check_script, broken
# scripts giving ERRORs and never a crash, all under a 16MB Lua memory cap. DynamoDB requests are
# counted by t/bin/fault-proxy.js (no faults scripted), which sits between the FDW and DynamoDB Local.
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
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;

# ---------- the scratch script directory: the installed scripts plus the examples ----------
my $scripts = PostgreSQL::Test::Utils::tempdir();
my $mappings = "$scripts/dynamo_lua_fdw/mappings";
system("cp -r $sharedir/dynamo_lua_fdw/. $scripts/") == 0 or die "copy failed";
system("cp $root/lua/examples/*.lua $mappings/") == 0 or die "copy failed";

# ---------- the request counter (the fault proxy with no faults) ----------
my $fault_proxy = DlfTest::start_fault_proxy($root, $ddb);
my $proxy = $fault_proxy->{h};
my $purl = "http://127.0.0.1:$fault_proxy->{port}";
sub reset_counts { DlfTest::proxy_post($fault_proxy, '/__reset') }
# DynamoDB read requests since the last reset_counts(), as "GetItem=0 Query=1 Scan=0".
sub reads {
    my $ops = DlfTest::proxy_counts($fault_proxy)->{ops};
    return join(' ', map { "$_=" . ($ops->{$_} // 0) } qw(GetItem Query Scan));
}

# ---------- DynamoDB Local directly (it checks no signature; the header only has to look right) ----------
sub ddb { DlfTest::ddb($ddb, @_) }
sub put_items {
    my ($table, @items) = @_;
    while (my @chunk = splice(@items, 0, 25)) {
        ddb('BatchWriteItem', { RequestItems => { $table => [map { { PutRequest => { Item => $_ } } } @chunk] } });
    }
}
sub get_item {
    my ($table, %key) = @_;
    return ddb('GetItem', { TableName => $table, ConsistentRead => JSON::PP::true,
        Key => { map { $_ => { S => $key{$_} } } keys %key } })->{Item};
}
sub create_table {
    my ($name, @keys) = @_;
    ddb('CreateTable', { TableName => $name, BillingMode => 'PAY_PER_REQUEST',
        AttributeDefinitions => [map { { AttributeName => $_, AttributeType => 'S' } } @keys],
        KeySchema => [map { { AttributeName => $keys[$_], KeyType => $_ ? 'RANGE' : 'HASH' } } 0 .. $#keys] });
}

my $prefix = "dlf_examples_$$";
my ($APP, $SESSIONS, $CUSTOMERS) = ("${prefix}_app", "${prefix}_sessions", "${prefix}_customers");
create_table($APP, 'pk', 'sk');
create_table($SESSIONS, 'id');
create_table($CUSTOMERS, 'CustomerID');
ddb('UpdateTimeToLive', { TableName => $SESSIONS,
    TimeToLiveSpecification => { Enabled => JSON::PP::true, AttributeName => 'expires' } });

# The single-table design: orders of users, and other kinds of items beside them.
my @orders = (    # user, date, id, total, status
    ['u1', '2023-12-31', 'o10', '10', 'shipped'],  ['u1', '2024-01-01', 'o11', '11.5', 'shipped'],
    ['u1', '2024-01-15', 'o12', '12', 'new'],      ['u1', '2024-01-15', 'o13', '13', 'new'],
    ['u1', '2024-01-31', 'o14', '14', 'shipped'],  ['u1', '2024-02-01', 'o15', '15', 'new'],
    ['u2', '2024-01-10', 'o20', '20', 'new'],      ['u2', '2024-01-20', 'o21', '21', 'shipped'],
    ['u3', '2024-01-15', 'o30', '30', 'new'],      ["a'b#c", '2024-01-15', 'o40', '40', 'new'],
);
my @other = (    # not orders: a profile, a product, sort keys that are no order's
    { pk => { S => 'USER#u1' }, sk => { S => 'PROFILE' }, name => { S => 'User One' } },
    { pk => { S => 'PRODUCT#p1' }, sk => { S => 'ORDER#2024-01-15#x' }, total => { N => '1' } },
    { pk => { S => 'USER#u3' }, sk => { S => 'ORDER#2024-01-15' }, total => { N => '1' } },
    { pk => { S => 'USER#u3' }, sk => { S => 'ORDER#someday#o31' }, total => { N => '1' } },
);
put_items($APP, @other, map { { pk => { S => "USER#$_->[0]" }, sk => { S => "ORDER#$_->[1]#$_->[2]" },
    total => { N => $_->[3] }, status => { S => $_->[4] } } } @orders);

# Sessions with a TTL: live, expired long ago (DynamoDB Local deletes expired items too, but never
# ones that expired more than five years ago, so these stay), and without the attribute.
my $now = time();
my $future = int($now) + 86400;
put_items($SESSIONS,
    { id => { S => 's1' }, username => { S => 'ann' }, expires => { N => "$future" } },
    { id => { S => 's2' }, username => { S => 'bob' }, expires => { N => '1262304000' } },
    { id => { S => 's3' }, username => { S => 'cid' } },
    { id => { S => 's4' }, username => { S => 'dan' }, expires => { N => '1300000000.5' } });

put_items($CUSTOMERS,
    { CustomerID => { S => 'c1' }, GivenName => { S => 'Ada' }, FamilyName => { S => 'Lovelace' }, email => { S => 'ada@example.com' } },
    { CustomerID => { S => 'c2' }, GivenName => { S => 'Alan' }, FamilyName => { S => 'Turing' } },
    { CustomerID => { S => 'c3' }, GivenName => { S => 'Grace' } });

# ---------- the node: a low Lua memory cap for everything below ----------
my $node = PostgreSQL::Test::Cluster->new('mapping_examples');
$node->init;
$node->append_conf('postgresql.conf', "dynamo_lua_fdw.script_path = '$scripts'\n"
  . "dynamo_lua_fdw.lua_memory_limit = '16MB'\nlc_messages = 'C'\n");
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION dynamo_lua_fdw;
CREATE SERVER ddb FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint '$purl', max_retries '2');
CREATE FOREIGN TABLE orders (user_id text, order_date date, order_id text, total numeric, status text)
  SERVER ddb OPTIONS (mapping 'orders', table '$APP');
CREATE FOREIGN TABLE sessions (id text NOT NULL, username text,
                               expires_at timestamptz OPTIONS (attribute 'expires', format 'epoch'))
  SERVER ddb OPTIONS (mapping 'ttl', table '$SESSIONS');
CREATE FOREIGN TABLE sessions_brief (id text, username text) SERVER ddb OPTIONS (mapping 'ttl', table '$SESSIONS');
CREATE FOREIGN TABLE sessions_typed (id text, username text, expires numeric) SERVER ddb OPTIONS (table '$SESSIONS');
CREATE FOREIGN TABLE customers (id text NOT NULL, first_name text, last_name text, full_name text, email text)
  SERVER ddb OPTIONS (mapping 'customers', table '$CUSTOMERS');
CREATE FOREIGN TABLE customers_typed (id text, first_name text, last_name text, full_name text, email text)
  SERVER ddb OPTIONS (table '$CUSTOMERS');
});

# Runs SQL in a new session; stdout and stderr (verbose: SQLSTATEs and CONTEXT).
sub sql { (DlfTest::psql_verbose($node, $_[0]))[0, 1] }
# The plan text of EXPLAIN (options) sql.
sub plan_of {
    my ($options, $query) = @_;
    my ($out, $err) = sql("EXPLAIN ($options) $query");
    die "EXPLAIN failed: $err" if $err =~ /ERROR/;
    return $out;
}
my ($out, $err);

is($node->safe_psql('postgres', 'SHOW dynamo_lua_fdw.lua_memory_limit'), '16MB',
    'every example below runs under a 16MB Lua memory cap');

# ======================= orders.lua: a single-table design =======================

my $u1_jan = "SELECT order_id, order_date, total, status FROM orders "
  . "WHERE user_id = 'u1' AND order_date BETWEEN '2024-01-01' AND '2024-01-31' ORDER BY order_id";
reset_counts();
is($node->safe_psql('postgres', $u1_jan),
    "o11|2024-01-01|11.5|shipped\no12|2024-01-15|12|new\no13|2024-01-15|13|new\no14|2024-01-31|14|shipped",
    'orders: user_id and a date range give the user\'s orders of January, columns from the keys');
is(reads(), 'GetItem=0 Query=1 Scan=0', 'orders: read with one Query, no Scan');
my $plan = plan_of('COSTS OFF', $u1_jan);
like($plan, qr/DynamoDB Operation: Query/, 'orders: EXPLAIN shows a Query');
like($plan, qr/DynamoDB Key Condition: pk = 'USER#u1' AND sk BETWEEN 'ORDER#2024-01-01' AND 'ORDER#2024-01-31~'/,
    'orders: EXPLAIN shows the key condition on pk and the sort key range');
$plan = plan_of('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', $u1_jan);
like($plan, qr/DynamoDB Items Scanned: 4$/, 'orders: DynamoDB read only the 4 matching items');

reset_counts();
is($node->safe_psql('postgres', "SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders "
      . "WHERE user_id = 'u1' AND order_date = '2024-01-15'"), 'o12,o13', 'orders: order_date = d');
is(reads(), 'GetItem=0 Query=1 Scan=0', 'orders: one Query');
like(plan_of('COSTS OFF', "SELECT * FROM orders WHERE user_id = 'u1' AND order_date = '2024-01-15'"),
    qr/DynamoDB Key Condition: pk = 'USER#u1' AND begins_with\(sk, 'ORDER#2024-01-15#'\)/,
    'orders: equality on order_date is begins_with on the sort key');
like(plan_of('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF',
        "SELECT * FROM orders WHERE user_id = 'u1' AND order_date = '2024-01-15'"),
    qr/DynamoDB Items Scanned: 2$/, 'orders: and reads the 2 items of that day only');

is($node->safe_psql('postgres', "SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders "
      . "WHERE user_id = 'u1' AND order_date > '2024-01-01' AND order_date < '2024-01-31'"), 'o12,o13',
    'orders: strict bounds');
like(plan_of('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', "SELECT * FROM orders "
      . "WHERE user_id = 'u1' AND order_date > '2024-01-01' AND order_date < '2024-01-31'"),
    qr/sk BETWEEN 'ORDER#2024-01-01~' AND 'ORDER#2024-01-31'\n(?:.*\n)*.*DynamoDB Items Scanned: 2$/,
    'orders: strict bounds are exact too');
like(plan_of('COSTS OFF', "SELECT * FROM orders WHERE user_id = 'u1' AND order_date >= '2024-01-15' "
      . "AND order_date >= '2024-01-02' AND order_date <= '2024-03-01'"),
    qr/sk BETWEEN 'ORDER#2024-01-15' AND 'ORDER#2024-03-01~'/, 'orders: of two lower bounds the tighter is sent');

# A user id with a quote and a '#': the partition key is exact.
is($node->safe_psql('postgres', "SELECT order_id FROM orders WHERE user_id = 'a''b#c'"), 'o40',
    'orders: a user id with a quote and # finds its orders');
like(plan_of('COSTS OFF', "SELECT * FROM orders WHERE user_id = 'a''b#c'"),
    qr/DynamoDB Key Condition: pk = 'USER#a''b#c' AND sk BETWEEN 'ORDER#' AND 'ORDER#~'/,
    'orders: without a date condition the Query is bounded to order items');

# IN lists: one Query per user.
reset_counts();
is($node->safe_psql('postgres', "SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders "
      . "WHERE user_id IN ('u2', 'u3', 'nobody') AND order_date >= '2024-01-12'"), 'o21,o30',
    'orders: user_id IN (...)');
is(reads(), 'GetItem=0 Query=3 Scan=0', 'orders: one Query per user of the IN list');

# A join on user_id: a parameterized path, one Query per outer row instead of a Scan.
my $join = "SELECT v.u, string_agg(o.order_id, ',' ORDER BY o.order_id) FROM (VALUES ('u2'), ('u3')) v(u) "
  . "JOIN orders o ON o.user_id = v.u GROUP BY v.u ORDER BY v.u";
reset_counts();
is($node->safe_psql('postgres', $join), "u2|o20,o21\nu3|o30", 'orders: a join on user_id');
is(reads(), 'GetItem=0 Query=2 Scan=0', 'orders: one Query per outer row');
like(plan_of('COSTS OFF', $join), qr/Nested Loop\n(?:.*\n)*.*DynamoDB Key Condition: pk = 'USER#' \|\| \? AND/,
    'orders: EXPLAIN shows the parameterized Query');

# Parameters (a generic plan): the key condition is made when the scan starts.
reset_counts();
($out, $err) = sql("SET plan_cache_mode = force_generic_plan;
PREPARE q(text, date, date) AS SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders
  WHERE user_id = \$1 AND order_date BETWEEN \$2 AND \$3;
EXECUTE q('u1', '2024-01-15', '2024-02-01');
EXECUTE q('u2', '2024-01-01', '2024-01-15');
EXECUTE q('u2', '2024-02-01', '2024-01-01');
EXPLAIN (COSTS OFF) EXECUTE q('u1', '2024-01-15', '2024-02-01');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q('u1', '2024-01-15', '2024-02-01');");
like($out, qr/^o12,o13,o14,o15\no20\n\n/, 'orders: parameters of a generic plan, an empty range gives no rows');
like($out, qr/DynamoDB Key Condition: pk = 'USER#' \|\| \? AND sk BETWEEN 'ORDER#' \|\| \? AND 'ORDER#' \|\| \? \|\| '~'\n/,
    'orders: EXPLAIN shows where the parameters go');
like($out, qr/DynamoDB Key Condition: pk = 'USER#u1' AND sk BETWEEN 'ORDER#2024-01-15' AND 'ORDER#2024-02-01~'\n/,
    'orders: EXPLAIN ANALYZE shows the condition sent');
is(reads(), 'GetItem=0 Query=3 Scan=0', 'orders: a Query per execution, none for the empty range');

# No user_id: a Scan filtered on the key prefixes; items that are not orders are no rows.
reset_counts();
is($node->safe_psql('postgres', "SELECT count(*), string_agg(DISTINCT user_id, ',') FROM orders"),
    "10|a'b#c,u1,u2,u3", 'orders: a Scan finds every order and nothing else');
is(reads(), 'GetItem=0 Query=0 Scan=1', 'orders: without user_id it is a Scan');
like(plan_of('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', "SELECT * FROM orders WHERE order_date = '2024-01-15'"),
    qr/DynamoDB Operation: Scan\n(?:.*\n)*.*DynamoDB Filter: begins_with\(pk, 'USER#'\) AND begins_with\(sk, 'ORDER#2024-01-15#'\)\n(?:.*\n)*.*DynamoDB Items Returned: 4\n.*DynamoDB Items Scanned: 14$/,
    'orders: the Scan filters on the date in DynamoDB');

# A Query returns a user's orders by date: ORDER BY order_date needs no Sort, DESC reads backwards.
my $latest = "SELECT order_id FROM orders WHERE user_id = 'u1' ORDER BY order_date DESC LIMIT 2";
is($node->safe_psql('postgres', $latest), "o15\no14", 'orders: the latest two orders of a user');
$plan = plan_of('COSTS OFF', $latest);
unlike($plan, qr/Sort/, 'orders: no Sort node for ORDER BY order_date DESC');
like($plan, qr/DynamoDB Order: descending/, 'orders: the Query reads backwards');

# Whatever is pushed down, the rows are those PostgreSQL finds in all orders: every user and
# comparison against boundary dates, and BETWEEN over every pair of them, compared with a local copy.
reset_counts();
($out, $err) = sql(q{
CREATE TEMP TABLE all_orders AS SELECT * FROM orders;
DO $$
DECLARE
    u text; a date; b date; op text; c text; diff int; n int := 0; bad int := 0;
    dates date[] := '{2023-12-30,2023-12-31,2024-01-01,2024-01-14,2024-01-15,2024-01-16,2024-01-31,2024-02-01,2024-02-02}';
BEGIN
    FOREACH u IN ARRAY ARRAY['u1', 'u2', 'u3', 'nobody'] LOOP
        FOREACH a IN ARRAY dates LOOP
            FOREACH op IN ARRAY ARRAY['=', '<', '<=', '>', '>='] LOOP
                c := format('user_id = %L AND order_date %s %L', u, op, a);
                EXECUTE format('SELECT count(*) FROM ((SELECT * FROM orders WHERE %1$s EXCEPT ALL SELECT * FROM all_orders WHERE %1$s)'
                    ' UNION ALL (SELECT * FROM all_orders WHERE %1$s EXCEPT ALL SELECT * FROM orders WHERE %1$s)) d', c) INTO diff;
                n := n + 1;
                IF diff > 0 THEN bad := bad + 1; RAISE WARNING 'different rows for %', c; END IF;
            END LOOP;
            CONTINUE WHEN u NOT IN ('u1', 'u3');
            FOREACH b IN ARRAY dates LOOP
                c := format('user_id = %L AND order_date BETWEEN %L AND %L', u, a, b);
                EXECUTE format('SELECT count(*) FROM ((SELECT * FROM orders WHERE %1$s EXCEPT ALL SELECT * FROM all_orders WHERE %1$s)'
                    ' UNION ALL (SELECT * FROM all_orders WHERE %1$s EXCEPT ALL SELECT * FROM orders WHERE %1$s)) d', c) INTO diff;
                n := n + 1;
                IF diff > 0 THEN bad := bad + 1; RAISE WARNING 'different rows for %', c; END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'compared % conditions: % differ', n, bad;
END $$;});
like($err, qr/NOTICE:  00000: compared 342 conditions: 0 differ/, 'orders: 342 pushed conditions return exactly the rows PostgreSQL finds');
like(reads(), qr/^GetItem=0 Query=\d{3,} Scan=1$/, 'orders: all of them as Queries (the one Scan made the local copy)');

# DateStyle does not matter: a date constant that is not ISO text is not pushed, the answer is the same.
($out, $err) = sql("SET DateStyle = 'SQL, DMY';
SELECT count(*) FROM orders WHERE user_id = 'u1' AND order_date BETWEEN '01/01/2024' AND '31/01/2024';
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE user_id = 'u1' AND order_date BETWEEN '01/01/2024' AND '31/01/2024';");
like($out, qr/^4\n/, 'orders: the same 4 rows under DateStyle SQL, DMY');

# Writes: INSERT builds pk and sk, UPDATE changes attributes, DELETE removes the item.
($out, $err) = sql("INSERT INTO orders VALUES ('u9', '2024-03-01', 'o90', 12.50, 'new'), ('u9', '2024-03-02', 'o91', 1, 'new')");
is($err, '', 'orders: INSERT');
my $item = get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-01#o90');
is_deeply($item, { pk => { S => 'USER#u9' }, sk => { S => 'ORDER#2024-03-01#o90' }, total => { N => '12.5' },
    status => { S => 'new' } }, 'orders: INSERT wrote pk = USER#<user_id>, sk = ORDER#<date>#<order_id>');
($out, $err) = sql("UPDATE orders SET status = 'paid' WHERE user_id = 'u9' AND order_id = 'o90';
UPDATE orders SET order_date = '2024-03-05' WHERE user_id = 'u9' AND order_id = 'o91';");
is($err, '', 'orders: UPDATE');
is(get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-01#o90')->{status}{S}, 'paid', 'orders: UPDATE of an attribute');
ok(!get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-02#o91')
    && get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-05#o91'), 'orders: UPDATE of order_date moves the item');
is($node->safe_psql('postgres', "SELECT order_id, order_date, status FROM orders WHERE user_id = 'u9' ORDER BY order_id"),
    "o90|2024-03-01|paid\no91|2024-03-05|new", 'orders: the written rows read back');
($out, $err) = sql("INSERT INTO orders VALUES ('u9', '2024-03-01', 'o90', 999, 'again') ON CONFLICT DO NOTHING");
is($err, '', 'orders: INSERT ... ON CONFLICT DO NOTHING');
is(get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-01#o90')->{status}{S}, 'paid', 'orders: ON CONFLICT DO NOTHING keeps the existing item');
($out, $err) = sql("DELETE FROM orders WHERE user_id = 'u9'");
is($err, '', 'orders: DELETE');
ok(!get_item($APP, pk => 'USER#u9', sk => 'ORDER#2024-03-01#o90'), 'orders: DELETE removed the item');
($out, $err) = sql("INSERT INTO orders (user_id, order_id) VALUES ('u9', 'o99')");
like($err, qr/ERROR:  23502: column "order_date" of an order cannot be empty/, 'orders: a key part is required');

# ======================= ttl.lua: expired items hidden =======================

is($node->safe_psql('postgres', "SELECT count(*) FROM sessions_typed"), '4',
    'ttl: DynamoDB still returns all 4 items (a table without the script sees them)');
is($node->safe_psql('postgres', "SELECT id, username, expires_at = to_timestamp($future) FROM sessions ORDER BY id"),
    "s1|ann|t\ns3|cid|", 'ttl: the expired items are hidden; the TTL attribute reads as timestamptz');
is($node->safe_psql('postgres', "SELECT string_agg(id, ',' ORDER BY id) FROM sessions_brief"), 's1,s3',
    'ttl: hidden also without a column for the TTL attribute');
is($node->safe_psql('postgres', "SELECT count(*) FROM sessions WHERE id = 's2'"), '0', 'ttl: not even by its key');
$plan = plan_of('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', 'SELECT * FROM sessions');
like($plan, qr/DynamoDB TTL Attribute: expires/, 'ttl: EXPLAIN names the TTL attribute (from DescribeTimeToLive)');
like($plan, qr/Expired Items Hidden: 2/, 'ttl: EXPLAIN ANALYZE counts the hidden items');
ok(get_item($SESSIONS, id => 's2'), 'ttl: the hidden item is still in DynamoDB');
($out, $err) = sql("INSERT INTO sessions VALUES ('s5', 'eve', '2100-01-01 00:00:00+00'), ('s6', 'fay', now() - interval '1 hour')");
is($err, '', 'ttl: INSERT');
is(get_item($SESSIONS, id => 's5')->{expires}{N}, '4102444800', 'ttl: expires_at is written as epoch seconds');
is($node->safe_psql('postgres', "SELECT string_agg(id, ',' ORDER BY id) FROM sessions"), 's1,s3,s5',
    'ttl: a session inserted already expired is not shown');

# ======================= customers.lua: renamed attributes, a computed column =======================

is($node->safe_psql('postgres', "SELECT id, first_name, last_name, full_name, email FROM customers ORDER BY id"),
    "c1|Ada|Lovelace|Ada Lovelace|ada\@example.com\nc2|Alan|Turing|Alan Turing|\nc3|Grace||Grace|",
    'customers: renamed attributes and the computed full_name');
is($node->safe_psql('postgres', "SELECT count(first_name), count(full_name) FROM customers_typed"), '0|0',
    'customers: without the script the columns are empty');
reset_counts();
is($node->safe_psql('postgres', "SELECT full_name FROM customers WHERE id = 'c2'"), 'Alan Turing',
    'customers: by the renamed key');
is(reads(), 'GetItem=1 Query=0 Scan=0', 'customers: the renamed key column is still pushed down (the whole key: GetItem)');
like(plan_of('COSTS OFF', "SELECT * FROM customers WHERE id = 'c2'"), qr/DynamoDB Key: id = 'c2'/,
    'customers: EXPLAIN shows the key condition');
is($node->safe_psql('postgres', "SELECT id FROM customers WHERE full_name = 'Alan Turing'"), 'c2',
    'customers: a condition on the computed column');
($out, $err) = sql("INSERT INTO customers (id, first_name, last_name) VALUES ('c4', 'Edsger', 'Dijkstra') RETURNING full_name");
is($out, 'Edsger Dijkstra', 'customers: RETURNING shows the computed column');
is_deeply(get_item($CUSTOMERS, CustomerID => 'c4'),
    { CustomerID => { S => 'c4' }, GivenName => { S => 'Edsger' }, FamilyName => { S => 'Dijkstra' } },
    'customers: INSERT wrote the renamed attributes and no computed one');
($out, $err) = sql("UPDATE customers SET last_name = 'W. Dijkstra' WHERE id = 'c4' RETURNING full_name");
is($out, 'Edsger W. Dijkstra', 'customers: UPDATE recomputes');
is(get_item($CUSTOMERS, CustomerID => 'c4')->{FamilyName}{S}, 'W. Dijkstra', 'customers: UPDATE wrote FamilyName');
($out, $err) = sql("INSERT INTO customers (id, full_name) VALUES ('c5', 'x');
UPDATE customers SET full_name = 'x' WHERE id = 'c4';");
like($err, qr/ERROR:  428C9: cannot insert a non-NULL value into computed column "full_name"/, 'customers: INSERT into the computed column');
like($err, qr/ERROR:  428C9: column "full_name" is computed and cannot be updated/, 'customers: UPDATE of the computed column');

# ======================= hot reload, seen by two open backends =======================

# A psql session kept open: statements go in on stdin; each ends with markers on stdout and stderr.
my $seq = 0;
sub session {
    my %s = (in => '', out => '', err => '');
    $s{h} = IPC::Run::start(['psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres')],
        '<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
    return \%s;
}
sub run_in {
    my ($s, $sql) = @_;
    $seq++;
    $s->{out} = $s->{err} = '';
    $sql .= ';' unless $sql =~ /;\s*$/;
    $s->{in} .= "$sql\n\\echo __done_$seq\n\\warn __done_$seq\n";
    my $until = time() + 60;
    while ($s->{out} !~ /__done_$seq\n/ || $s->{err} !~ /__done_$seq\n/) {
        die "psql session: no answer to: $sql\n$s->{err}" if time() > $until;
        $s->{h}->pump_nb;
        sleep 0.02;
    }
    my ($out, $err) = ($s->{out}, $s->{err});
    s/__done_$seq\n// for $out, $err;
    chomp $out;
    return ($out, $err);
}
sub edit_script {
    my ($name, $from, $to) = @_;
    my $path = "$mappings/$name.lua";
    my $text = slurp_file($path);
    my $n = ($text =~ s/\Q$from\E/$to/);
    die "edit_script: \"$from\" not in $name.lua" unless $n;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh;
}

my ($s1, $s2) = (session(), session());
my ($pid_a) = run_in($s1, 'SELECT pg_backend_pid()');
my ($pid_b) = run_in($s2, 'SELECT pg_backend_pid()');
my $ada = "SELECT full_name FROM customers WHERE id = 'c1'";
is(join(',', (run_in($s1, $ada))[0], (run_in($s2, $ada))[0]), 'Ada Lovelace,Ada Lovelace', 'reload: both backends use the script');

my $original = slurp_file("$mappings/customers.lua");
edit_script('customers', 'row.first_name .. " " .. row.last_name', 'row.last_name .. ", " .. row.first_name');
is(join(',', (run_in($s1, $ada))[0], (run_in($s2, $ada))[0]), 'Lovelace, Ada,Lovelace, Ada',
    'reload: the edited script is used by the next query of both open backends');

# A syntax error: a clear ERROR with file:line; other mappings keep working meanwhile.
edit_script('customers', 'local COMPUTED = {', 'local COMPUTED = {{');
($out, $err) = run_in($s1, $ada);
like($err, qr{ERROR:  HV000: .*\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/customers\.lua:\d+}, 'reload: a syntax error is an ERROR naming file:line');
($out, $err) = run_in($s2, "SELECT dynamo_lua_fdw.check_script('customers')");
like($err, qr{ERROR:  HV000: .*\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/customers\.lua:\d+}, 'reload: check_script names the broken line');
($out, $err) = run_in($s1, "SELECT count(*) FROM orders WHERE user_id = 'u2'");
is($out, '2', 'reload: tables of other scripts work while one script is broken');
($out, $err) = run_in($s2, "SELECT string_agg(id, ',' ORDER BY id) FROM sessions");
is($out, 's1,s3,s5', 'reload: in the other backend too');

# Fixed: both backends are back, without reconnecting.
open(my $fh, '>', "$mappings/customers.lua") or die $!;
print $fh $original;
close $fh;
is(join(',', (run_in($s1, $ada))[0], (run_in($s2, $ada))[0]), 'Ada Lovelace,Ada Lovelace', 'reload: the fixed script is used again by both');
is(join(',', (run_in($s1, 'SELECT pg_backend_pid()'))[0], (run_in($s2, 'SELECT pg_backend_pid()'))[0]),
    "$pid_a,$pid_b", 'reload: by the same two backends');

# check_script validates a new script before any table uses it; then a table is switched to it.
PostgreSQL::Test::Utils::append_to_file("$mappings/customers_v2.lua", $original =~ s/" " \.\. row\.last_name/" " .. row.last_name:upper()/r);
($out, $err) = run_in($s1, "SELECT dynamo_lua_fdw.check_script('customers_v2')");
is($out, 'dynamo_lua_fdw/mappings/customers_v2.lua: defines plan_scan, begin_scan, rescan, fetch, end_scan, explain, '
  . 'begin_modify, insert, update, delete', 'check_script: a new script checked without being used');
is((run_in($s2, $ada))[0], 'Ada Lovelace', 'check_script: tables keep their script');
run_in($s1, "ALTER FOREIGN TABLE customers OPTIONS (SET mapping 'customers_v2')");
is(join(',', (run_in($s1, $ada))[0], (run_in($s2, $ada))[0]), 'Ada LOVELACE,Ada LOVELACE', 'check_script: then the table switched to it');
run_in($s1, "ALTER FOREIGN TABLE customers OPTIONS (SET mapping 'customers')");

# ======================= the sandbox docs/LUA_API.md describes =======================

PostgreSQL::Test::Utils::append_to_file("$mappings/sandbox_probe.lua", <<'LUA');
local M = {}
function M.plan_scan(rel) return { plan = {}, rows = 1, startup_cost = 1, total_cost = 1 } end
function M.begin_scan() return {} end
function M.rescan(st) st.done = false end
function M.end_scan() end
function M.explain() return {} end
function M.fetch(st)
    if st.done then return nil, 0 end
    st.done = true
    local names = { "io", "debug", "print", "dofile", "loadfile", "string", "table", "math", "bit", "jit",
                    "coroutine", "loadstring", "pcall", "os.time", "os.date", "os.clock", "os.difftime",
                    "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname", "package.loadlib" }
    local have = {}
    for _, n in ipairs(names) do
        local v = _G
        for part in n:gmatch("[^.]+") do v = type(v) == "table" and v[part] or nil end
        if v ~= nil then have[#have + 1] = n end
    end
    have[#have + 1] = "ffi=" .. tostring((pcall(require, "ffi")))
    return { table.concat(have, " ") }, 1
end
return M
LUA
$node->safe_psql('postgres', "CREATE FOREIGN TABLE sandbox_probe (v text) SERVER ddb OPTIONS (mapping 'sandbox_probe')");
is($node->safe_psql('postgres', 'SELECT v FROM sandbox_probe'),
    'string table math bit jit coroutine loadstring pcall os.time os.date os.clock os.difftime ffi=false',
    'the sandbox has what docs/LUA_API.md lists, and nothing it says is missing');

# ======================= safety: broken scripts are ERRORs, never crashes =======================

my %broken = (
    runtime => 'function M.fetch(st) local t = nil; return t.x end',
    bad_plan => 'function M.plan_scan(rel) return nil end',
    no_array => 'function M.fetch(st) if st.done then return nil, 0 end st.done = true; return 42, 1 end',
    table_value => 'function M.fetch(st) if st.done then return nil, 0 end st.done = true; return { {} }, 1 end',
    recursion => 'local function f(n) return 1 + f(n + 1) end function M.fetch(st) return f(1) end',
    memory => 'function M.fetch(st) local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 100) .. i end end',
    raise_nothing => 'function M.fetch(st) error(nil) end',
    raise_table => 'function M.fetch(st) error({ sqlstate = 42 }) end',
    load_time => 'local x = nil .. "a"',
    not_a_table => 'do return 42 end',
);
my $base = <<'LUA';
local M = {}
function M.plan_scan(rel) return { plan = {}, rows = 1, startup_cost = 1, total_cost = 1 } end
function M.begin_scan(plan, rel, params) return {} end
function M.rescan(st) st.done = false end
function M.fetch(st) return nil, 0 end
function M.end_scan() end
function M.plan_of() return {} end
LUA
my $setup = '';
for my $name (sort keys %broken) {
    PostgreSQL::Test::Utils::append_to_file("$mappings/broken_$name.lua", "$base$broken{$name}\nreturn M\n");
    $setup .= "CREATE FOREIGN TABLE broken_$name (v text) SERVER ddb OPTIONS (mapping 'broken_$name');\n";
}
$node->safe_psql('postgres', $setup);
my $c = session();
my ($pid_c) = run_in($c, 'SELECT pg_backend_pid()');
my %expect = (
    runtime => qr{ERROR:  HV000: attempt to index local 't' \(a nil value\)\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/broken_runtime\.lua:\d+},
    bad_plan => qr{ERROR:  HV000: .*\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/init\.lua:\d+},
    no_array => qr{ERROR:  HV000: Lua fetch returned rows without a value array},
    table_value => qr{ERROR:  HV004: Lua returned a table for column "v"; expected a string},
    recursion => qr{ERROR:  HV000: stack overflow},
    memory => qr{ERROR:  53200: Lua memory limit of 16384 kB exceeded},
    raise_nothing => qr{ERROR:  HV000: \(error object is not a string\)},
    raise_table => qr{ERROR:  HV000: unknown Lua error},
    load_time => qr{ERROR:  HV000: attempt to concatenate a nil value\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/mappings/broken_load_time\.lua:\d+},
    not_a_table => qr{ERROR:  HV000: attempt to index a number value\n(?:.*\n)*CONTEXT:  Lua script dynamo_lua_fdw/init\.lua:\d+},
);
for my $name (sort keys %broken) {
    ($out, $err) = run_in($c, "SELECT * FROM broken_$name; SELECT 'alive';");
    like($err, $expect{$name}, "broken script ($name): an ERROR");
    is($out, 'alive', "broken script ($name): the session goes on");
}
($out, $err) = run_in($c, "INSERT INTO broken_runtime VALUES ('x'); SELECT 'alive';");
like($err, qr/ERROR:  HV000: .*begin_modify/, 'broken script without begin_modify: INSERT is an ERROR');
($out, $err) = run_in($c, "SELECT count(*) FROM orders WHERE user_id = 'u1'; SELECT pg_backend_pid();");
is($out, "6\n$pid_c", 'after all the broken scripts the same backend still reads the examples');

for my $s ($s1, $s2, $c) { $s->{in} .= "\\q\n"; $s->{h}->finish; }
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated|PANIC|unprotected Lua error/, 'no backend crashed');

$node->stop;
for my $t ($APP, $SESSIONS, $CUSTOMERS) { eval { ddb('DeleteTable', { TableName => $t }) }; }
$proxy->kill_kill(grace => 2);
done_testing();
