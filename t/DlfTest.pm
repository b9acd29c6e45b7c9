# Shared by the TAP tests: starting the small node servers they use (t/bin/fault-proxy.js,
# t/bin/tls-forward.js), which print their port on their first line and exit when the test
# closes their stdin.
package DlfTest;

use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time sleep);

my $http = HTTP::Tiny->new(timeout => 10);

# start_helper([command...], 'what it is') -> { h => IPC::Run harness, port =>, out => \$out, err => \$err }
sub start_helper {
    my ($cmd, $what) = @_;
    my ($in, $out, $err) = ('', '', '');
    my $h = IPC::Run::start($cmd, '<', \$in, '>', \$out, '2>', \$err);
    my $deadline = time() + 15;
    while ($out !~ /^\d+\n/ && time() < $deadline) { $h->pump_nb; sleep 0.05; }
    my ($port) = $out =~ /^(\d+)\n/ or die "$what did not start: $err";
    return { h => $h, port => $port, out => \$out, err => \$err };
}

# The fault proxy in front of DynamoDB Local at $upstream.
sub start_fault_proxy {
    my ($root, $upstream) = @_;
    return start_helper(['node', "$root/t/bin/fault-proxy.js", '0', $upstream, '--exit-on-eof'], 'the fault proxy');
}

# POSTs JSON to a helper's control path (the fault proxy's /__faults, /__reset, /__creds).
sub proxy_post {
    my ($helper, $path, $data) = @_;
    my $r = $http->post("http://127.0.0.1:$helper->{port}$path", { content => encode_json($data // {}) });
    die "fault proxy $path: $r->{status} $r->{content}" unless $r->{success};
    return $r->{content};
}

# The proxy's counters (GET /__counts), decoded.
sub proxy_counts {
    my ($helper) = @_;
    my $r = $http->get("http://127.0.0.1:$helper->{port}/__counts");
    die "proxy /__counts: $r->{status}" unless $r->{success};
    return decode_json($r->{content});
}

# Resets the fault proxy's counters and scripts the faults of the next scenario.
sub proxy_faults {
    my ($helper, @faults) = @_;
    proxy_post($helper, '/__reset');
    proxy_post($helper, '/__faults', [@faults]);
}

# Runs SQL in a new psql session: stdout, stderr (verbose: SQLSTATEs and CONTEXT) and the seconds
# taken.  %opt: db, extra (more psql parameters), connstr.
sub psql_verbose {
    my ($node, $sql, %opt) = @_;
    my ($out, $err) = ('', '');
    my $t0 = time();
    $node->psql($opt{db} // 'postgres', $sql, stdout => \$out, stderr => \$err, on_error_stop => 0,
        extra_params => ['-v', 'VERBOSITY=verbose', @{ $opt{extra} // [] }],
        ($opt{connstr} ? (connstr => $opt{connstr}) : ()));
    return ($out, $err, time() - $t0);
}

# One DynamoDB request straight to $endpoint (DynamoDB Local checks no signature; the header only
# has to look right): the decoded answer, or die with the status and body.
sub ddb {
    my ($endpoint, $op, $req) = @_;
    my $r = $http->post("$endpoint/", { content => encode_json($req), headers => {
        'Content-Type' => 'application/x-amz-json-1.0', 'X-Amz-Target' => "DynamoDB_20120810.$op",
        'Authorization' => 'AWS4-HMAC-SHA256 Credential=fixture/20260101/us-east-1/dynamodb/aws4_request, '
          . 'SignedHeaders=host, Signature=0' } });
    die "DynamoDB $op: $r->{status} $r->{content}" unless $r->{success};
    return decode_json($r->{content} || '{}');
}

# A long-lived psql session (one backend): query() returns stdout and, in list context, stderr.
#   DlfSession->new($node, db => 'postgres', user => undef, timeout => 300)
package DlfSession;

sub new {
    my ($class, $node, %opt) = @_;
    my $s = bless { in => '', out => '', err => '', n => 0 }, $class;
    $s->{h} = IPC::Run::start(['psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d',
        $node->connstr($opt{db} // 'postgres') . ($opt{user} ? " user=$opt{user}" : ''), '-f', '-'],
        '<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, IPC::Run::timeout($opt{timeout} // 300));
    return $s;
}

sub query {
    my ($s, $sql) = @_;
    my $mark = '__dlf_done_' . ++$s->{n} . '__';
    $s->{in} .= "$sql\n;\n\\echo $mark\n\\warn $mark\n";
    $s->{h}->pump until $s->{out} =~ /$mark\n/ && $s->{err} =~ /$mark\n/;
    my ($out) = $s->{out} =~ /^(.*?)\n?$mark\n/s;
    my ($err) = $s->{err} =~ /^(.*?)$mark\n/s;
    $s->{out} = $s->{err} = '';
    return wantarray ? ($out, $err) : $out;
}

sub quit { my ($s) = @_; $s->{in} .= "\\q\n"; $s->{h}->finish; }

1;
