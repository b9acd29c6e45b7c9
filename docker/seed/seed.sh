#!/bin/sh
# One-shot seeding of DynamoDB Local for docker/compose.yaml (and docker/test.sh): creates the
# table fdwtest2 (pkey S, skey S) and writes 2004 items, key1..key1002 x skey1..skey2, the data the
# README's examples query. Idempotent: an existing table is kept and the items are written again.
# Runs in the dynamo_lua_fdw image itself: perl's core HTTP::Tiny and JSON::PP (there because
# PostgreSQL's Debian packages need perl) speak DynamoDB's JSON protocol; DynamoDB Local does not
# check signatures, so a well-formed dummy Authorization header is enough.
#   DYNAMODB_ENDPOINT=http://dynamodb:8000 sh seed.sh
set -eu
endpoint=${DYNAMODB_ENDPOINT:-${AWS_ENDPOINT_URL_DYNAMODB:-http://dynamodb:8000}}
exec perl -e '
use strict; use warnings; use HTTP::Tiny; use JSON::PP;
my ($endpoint, $table) = @ARGV;
my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->canonical;
sub call {
    my ($op, $body) = @_;
    my $r = $http->post("$endpoint/", { content => $json->encode($body), headers => {
        "Content-Type" => "application/x-amz-json-1.0",
        "X-Amz-Target" => "DynamoDB_20120810.$op",
        "Authorization" => "AWS4-HMAC-SHA256 Credential=seed/20250101/us-east-1/dynamodb/aws4_request, "
                         . "SignedHeaders=host, Signature=0" } });
    return ($r, $r->{success} ? $json->decode($r->{content}) : undef);
}
for (my $i = 1; ; $i++) {                         # DynamoDB Local takes a few seconds to start
    my ($r) = call("ListTables", {});
    last if $r->{success};
    die "seed: DynamoDB Local at $endpoint did not answer: $r->{status} $r->{content}\n" if $i >= 120;
    select(undef, undef, undef, 0.5);
}
my ($r) = call("CreateTable", { TableName => $table, BillingMode => "PAY_PER_REQUEST",
    AttributeDefinitions => [ { AttributeName => "pkey", AttributeType => "S" },
                              { AttributeName => "skey", AttributeType => "S" } ],
    KeySchema => [ { AttributeName => "pkey", KeyType => "HASH" },
                   { AttributeName => "skey", KeyType => "RANGE" } ] });
die "seed: CreateTable: $r->{status} $r->{content}\n"
    unless $r->{success} || $r->{content} =~ /ResourceInUseException/;
my @puts;
for my $i (1 .. 1002) {
    for my $j (1 .. 2) {
        push @puts, { PutRequest => { Item => { pkey => { S => "key$i" }, skey => { S => "skey$j" },
                                                text => { S => "hello $i" }, n => { N => "$i" } } } };
    }
}
my $n = @puts;
while (my @chunk = splice(@puts, 0, 25)) {
    my $req = { RequestItems => { $table => \@chunk } };
    for (my $try = 0; $req; $try++) {
        my ($w, $out) = call("BatchWriteItem", $req);
        die "seed: BatchWriteItem: $w->{status} $w->{content}\n" unless $w->{success};
        my $left = $out->{UnprocessedItems} || {};
        $req = %$left ? { RequestItems => $left } : undef;
        die "seed: BatchWriteItem kept items unprocessed\n" if $req && $try > 20;
        select(undef, undef, undef, 0.1 * $try) if $req;
    }
}
print "seed: table $table at $endpoint: $n items written\n";
' "$endpoint" fdwtest2
