# Shared by the TAP tests: starting the small node servers they use (t/bin/fault-proxy.js,
# t/bin/tls-forward.js), which print their port on their first line and exit when the test
# closes their stdin.
package DlfTest;

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time sleep);

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

1;
