#!/usr/bin/env bash
# A real Unleash server for the flag-flip tests: unleash-server (npm, pinned 6.x: 7+ needs Node 22)
# on a throw-away PostgreSQL cluster, with an admin API token and one feature switched on.
#
#   scripts/unleash-test-server.sh start STATE_DIR   # prints KEY=VALUE lines on stdout
#   scripts/unleash-test-server.sh stop STATE_DIR    # stops both servers, removes STATE_DIR
#
# `start` prints RIPCORD_UNLEASH_URL, _TOKEN, _PROJECT, _FEATURE, _ENVIRONMENT (the feature is on
# in that environment); progress goes to stderr. Needs node + npm and PostgreSQL's server binaries
# (found in PATH or under /usr/lib/postgresql/*/bin). The npm install is cached in
# ${RIPCORD_CACHE_DIR:-~/.cache/ripcord}. Exits 3 when node, npm or PostgreSQL are missing.
set -euo pipefail

UNLEASH_VERSION=6.10.1
PROJECT=default
ENVIRONMENT=development
FEATURE=ripcord-checkout

say() { printf 'unleash-test-server: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() { die "usage: $0 start|stop STATE_DIR"; }
[ $# -eq 2 ] || usage
command=$1
state=$2

# Runs a command as the `postgres` user when we are root (PostgreSQL refuses to run as root).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop() {
    [ -d "$state" ] || return 0
    if [ -f "$state/unleash.pid" ]; then
        kill "$(cat "$state/unleash.pid")" 2>/dev/null || true
    fi
    if [ -f "$state/pgbin" ] && [ -d "$state/pg" ]; then
        as_pg "$(cat "$state/pgbin")/pg_ctl" -D "$state/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$state"
}

pg_bin_dir() {
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# api METHOD PATH [JSON]: one admin API call; prints the body, fails on a non-2xx answer.
api() {
    node -e '
const [method, path, body] = process.argv.slice(1);
fetch(process.env.URL + path, {
  method,
  headers: { Authorization: process.env.TOKEN, "Content-Type": "application/json" },
  body: body || undefined,
  signal: AbortSignal.timeout(10000),
}).then(async (r) => {
  const text = await r.text();
  if (!r.ok) { console.error(method + " " + path + ": HTTP " + r.status + " " + text); process.exit(1); }
  console.log(text);
}).catch((e) => { console.error(method + " " + path + ": " + e); process.exit(1); });
' "$@"
}

start() {
    command -v node >/dev/null && command -v npm >/dev/null || { say "node/npm not installed"; exit 3; }
    local pgbin
    pgbin=$(pg_bin_dir) || { say "PostgreSQL server binaries (pg_ctl, initdb) not found"; exit 3; }

    local cache="${RIPCORD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ripcord}/unleash-server-$UNLEASH_VERSION"
    if [ ! -f "$cache/node_modules/unleash-server/dist/server.js" ]; then
        say "installing unleash-server@$UNLEASH_VERSION into $cache"
        mkdir -p "$cache"
        [ -f "$cache/package.json" ] || echo '{"private":true}' >"$cache/package.json"
        npm install --prefix "$cache" --save-exact --no-audit --no-fund --loglevel=error \
            "unleash-server@$UNLEASH_VERSION" >&2
    fi

    [ ! -e "$state" ] || die "$state already exists; stop it first"
    mkdir -p "$state/pg"
    created=1
    chmod 755 "$state"
    echo "$pgbin" >"$state/pgbin"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$state/pg"; fi

    local pg_port http_port token
    pg_port=$(free_port)
    say "PostgreSQL ($pgbin) on 127.0.0.1:$pg_port"
    as_pg "$pgbin/initdb" -D "$state/pg" -U unleash --auth=trust -E UTF8 >"$state/initdb.log" 2>&1 \
        || { cat "$state/initdb.log" >&2; die "initdb failed"; }
    as_pg "$pgbin/pg_ctl" -D "$state/pg" -l "$state/pg/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $pg_port -k $state/pg" start >/dev/null \
        || { cat "$state/pg/server.log" >&2; die "PostgreSQL did not start"; }

    http_port=$(free_port)
    token="*:*.ripcord-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    say "unleash-server $UNLEASH_VERSION on 127.0.0.1:$http_port"
    (
        cd "$cache"
        TZ=UTC HTTP_PORT=$http_port HTTP_HOST=127.0.0.1 \
            DATABASE_HOST=127.0.0.1 DATABASE_PORT=$pg_port DATABASE_USERNAME=unleash \
            DATABASE_PASSWORD=unused DATABASE_NAME=postgres DATABASE_SSL=false \
            INIT_ADMIN_API_TOKENS="$token" LOG_LEVEL=warn SEND_TELEMETRY=false CHECK_VERSION=false \
            nohup node node_modules/unleash-server/dist/server.js >"$state/unleash.log" 2>&1 &
        echo $! >"$state/unleash.pid"
    )

    export URL="http://127.0.0.1:$http_port" TOKEN="$token"
    local waited=0
    until api GET /health >/dev/null 2>&1; do
        kill -0 "$(cat "$state/unleash.pid")" 2>/dev/null || { tail -30 "$state/unleash.log" >&2; die "unleash-server exited"; }
        [ $waited -lt 180 ] || { tail -30 "$state/unleash.log" >&2; die "unleash-server not healthy after 180 s"; }
        sleep 1
        waited=$((waited + 1))
    done
    # The admin token is inserted after /health answers; wait until it is accepted.
    until api GET /api/admin/projects >/dev/null 2>&1; do
        [ $waited -lt 180 ] || die "the admin token was not accepted after 180 s"
        sleep 1
        waited=$((waited + 1))
    done
    say "healthy after ${waited}s; creating $PROJECT/$FEATURE, on in $ENVIRONMENT"
    api POST "/api/admin/projects/$PROJECT/features" "{\"name\":\"$FEATURE\"}" >/dev/null
    api POST "/api/admin/projects/$PROJECT/features/$FEATURE/environments/$ENVIRONMENT/on" >/dev/null

    printf 'RIPCORD_UNLEASH_URL=%s\nRIPCORD_UNLEASH_TOKEN=%s\nRIPCORD_UNLEASH_PROJECT=%s\n' "$URL" "$TOKEN" "$PROJECT"
    printf 'RIPCORD_UNLEASH_FEATURE=%s\nRIPCORD_UNLEASH_ENVIRONMENT=%s\n' "$FEATURE" "$ENVIRONMENT"
}

case "$command" in
    start)
        created=
        trap 'status=$?; [ $status -eq 0 ] || [ -z "$created" ] || stop; exit $status' EXIT
        start
        ;;
    stop) stop ;;
    *) usage ;;
esac
