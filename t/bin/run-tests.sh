#!/usr/bin/env bash
# `make test`: Lua unit tests, pg_regress and TAP against a throwaway PostgreSQL 15 and
# DynamoDB Local on free ports. Stops everything it started, also on failure, and ends
# with one line "N passed, N failed" over all suites.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$DLF_ROOT"

work=$(dlf_work_dir)
trap 'dlf_cleanup' EXIT INT TERM
export DLF_TESTDATA=${DLF_TESTDATA:-$(cd "$DLF_ROOT/../shared/testdata" 2>/dev/null && pwd)}
[ -n "$DLF_TESTDATA" ] || { echo "../shared/testdata is missing beside the repository" >&2; exit 1; }
passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== Lua unit tests"
out=$(luajit t/lua/run.lua 2>&1)
rc=$?
echo "$out" | grep -v '^ok ' || true
if [[ $(echo "$out" | tail -1) =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    count "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
else
    count 0 1
fi
[ $rc -eq 0 ] || [ "${BASH_REMATCH[2]:-1}" != 0 ] || count 0 1

echo "== DynamoDB Local"
dlf_start_dynamodb "$work/dynamodb.log" || exit 1
echo "DynamoDB Local at $DDB_ENDPOINT"
export DDB_ENDPOINT
node t/bin/ddb.js "$DDB_ENDPOINT" create-tables t/fixtures/tables.json || exit 1

echo "== kinesalite"
dlf_start_kinesis "$work/kinesis.log" || exit 1
echo "kinesalite at $KINESIS_ENDPOINT"
export KINESIS_ENDPOINT

echo "== pg_regress"
tests=$(ls t/sql/*.sql 2>/dev/null | xargs -n1 basename | sed 's/\.sql$//' | sort)
if [ -n "$tests" ]; then
    # shellcheck disable=SC2046
    dlf_as_pg env $(dlf_aws_env) DLF_ROOT="$DLF_ROOT" \
        "$PGBIN/../lib/pgxs/src/test/regress/pg_regress" \
        --temp-instance="$work/regress-instance" --port="$(dlf_free_port)" \
        --bindir="$PGBIN" --inputdir=t --outputdir="$work/regress" \
        --temp-config=t/regress.conf $tests >"$work/regress.out" 2>&1
    rc=$?
    cat "$work/regress.out"
    n_all=$(grep -acE '^(ok|not ok|test |     ) ' "$work/regress.out" || true)
    n_fail=$(grep -acE ' (FAILED|failed)( |$)' "$work/regress.out" || true)
    n_tests=$(echo "$tests" | wc -l)
    if [ $rc -ne 0 ]; then
        [ "$n_fail" -gt 0 ] || n_fail=1
        [ -f "$work/regress/regression.diffs" ] && head -c 20000 "$work/regress/regression.diffs"
    fi
    count $((n_tests - n_fail)) "$n_fail"
fi

echo "== TAP"
tap=$(ls t/*.pl 2>/dev/null)
if [ -n "$tap" ]; then
    mkdir -p "$work/tap" && chown postgres: "$work/tap" 2>/dev/null
    # shellcheck disable=SC2046
    dlf_as_pg env $(dlf_aws_env) PATH="$PGBIN:$PATH" DLF_ROOT="$DLF_ROOT" DDB_ENDPOINT="$DDB_ENDPOINT" \
        TESTDIR="$work/tap" PG_REGRESS="$PGBIN/../lib/pgxs/src/test/regress/pg_regress" \
        bash -c "cd '$work/tap' && prove -v -I '$PGBIN/../lib/pgxs/src/test/perl' -I '$DLF_ROOT/t' $(echo "$tap" | sed "s|^|$DLF_ROOT/|" | tr '\n' ' ')" \
        >"$work/tap.out" 2>&1
    rc=$?
    grep -avE '^ok [0-9]' "$work/tap.out"
    ok=$(grep -acE '^ok [0-9]' "$work/tap.out" || true)
    bad=$(grep -acE '^not ok [0-9]' "$work/tap.out" || true)
    [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
    if [ $rc -ne 0 ]; then
        for f in "$work"/tap/tmp_check/log/*.log; do
            [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
        done
    fi
    count "$ok" "$bad"
fi

dlf_cleanup

echo "== container (docker/test.sh: buildah, no Docker daemon)"
if [ "${DLF_SKIP_CONTAINER:-}" = 1 ]; then
    echo "SKIP: container test skipped because DLF_SKIP_CONTAINER=1"
else
    bash docker/test.sh 2>&1 | tee "$work/container.out"
    last=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$work/container.out" | tail -1)
    if [[ $last =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        count "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    elif ! grep -aq '^SKIP' "$work/container.out"; then
        count 0 1
    fi
fi

[ "$failed" -eq 0 ] && rm -rf "$work" || echo "test output kept in $work"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
