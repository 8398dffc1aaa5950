# Install (Debian package) and start a local PostgreSQL server for the tuning tests.
#
#   source .ci/postgres.sh      # exports HLYNR_TEST_POSTGRES_URL (and HLYNR_POSTGRES_URL)
#   bash .ci/postgres.sh        # same, prints the URL
#
# Idempotent: installs the `postgresql` package only if no server binary is present, creates a
# data directory under /tmp only once, starts the server only if it is not running, and creates
# the user and database only if missing. The server listens on 127.0.0.1 only, on its own port
# (default 55432, so it never collides with a system cluster on 5432). Settings (environment):
#   HLYNR_PG_PORT (55432)  HLYNR_PG_DIR (/tmp/hlynr-postgres)  HLYNR_PG_DB (hlynr_test)
#   HLYNR_PG_USER (hlynr)  HLYNR_PG_PASSWORD (hlynr)
# Stop it with: runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" -D /tmp/hlynr-postgres/data stop
# Written to be sourced: it never calls `exit` or `set -e`; failures print a message and
# return non-zero.

_hlynr_pg_setup() {
    local port="${HLYNR_PG_PORT:-55432}"
    local dir="${HLYNR_PG_DIR:-/tmp/hlynr-postgres}"
    local db="${HLYNR_PG_DB:-hlynr_test}"
    local user="${HLYNR_PG_USER:-hlynr}"
    local password="${HLYNR_PG_PASSWORD:-hlynr}"
    local data="$dir/data" bindir

    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
        echo "postgres.sh: installing the Debian postgresql package" >&2
        if [ "$(id -u)" != 0 ]; then
            echo "postgres.sh: need root to install postgresql (apt-get)" >&2
            return 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
            || { echo "postgres.sh: apt-get install postgresql failed" >&2; return 1; }
        bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    fi

    # Run server tools as `postgres` when we are root (the server refuses to run as root).
    local -a as_owner=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres \
            || { echo "postgres.sh: cannot create the postgres user" >&2; return 1; }
        as_owner=(runuser -u postgres --)
    fi
    mkdir -p "$dir" || return 1
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -s "$data/PG_VERSION" ]; then
        "${as_owner[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            >"$dir/initdb.out" 2>&1 \
            || { echo "postgres.sh: initdb failed, see $dir/initdb.out" >&2; return 1; }
    fi
    if ! "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$dir/server.out" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -k $dir" start >/dev/null \
            || { echo "postgres.sh: server did not start, see $dir/server.out" >&2; return 1; }
    fi
    local -a psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != 1 ]; then
        "${psql[@]}" -c "CREATE ROLE \"$user\" LOGIN PASSWORD '$password'" >/dev/null || return 1
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE \"$db\" OWNER \"$user\"" >/dev/null || return 1
    fi
    export HLYNR_POSTGRES_URL="postgresql://$user:$password@127.0.0.1:$port/$db"
    export HLYNR_TEST_POSTGRES_URL="$HLYNR_POSTGRES_URL"
    echo "postgres.sh: PostgreSQL ready: $HLYNR_TEST_POSTGRES_URL" >&2
    echo "$HLYNR_TEST_POSTGRES_URL"
}

_hlynr_pg_setup
_hlynr_pg_status=$?
unset -f _hlynr_pg_setup
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    exit "$_hlynr_pg_status"
fi
return "$_hlynr_pg_status"
