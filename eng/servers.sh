#!/usr/bin/env bash
# Starts, stops or shows the local servers of one profile: PostgreSQL 15, MariaDB, s3rver.
#   eng/servers.sh start|stop|status [run|test]     (profile: argument, else KP_PROFILE, else run)
#   eng/servers.sh restart <run|test> postgres|mariadb|s3rver   (one server, on its data)
# Servers run as non-root users (postgres, mysql, nobody) bound to 127.0.0.1, data under $KP_DATA_DIR
# (.data/<profile>), pids in $KP_DATA_DIR/pids; `stop` stops exactly those pids. Settings: eng/env.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
[ -n "${2:-}" ] && KP_PROFILE="$2"
# shellcheck source=env.sh
source "$here/env.sh"

pid_dir="$KP_DATA_DIR/pids"
log_dir="$KP_DATA_DIR/logs"
marker="$KP_DATA_DIR/.kafkapipeline-data"   # only a folder carrying it is ever wiped
say() { echo "servers[$KP_PROFILE]: $*"; }
die() { echo "servers[$KP_PROFILE]: ERROR: $*" >&2; exit 1; }

# --- processes -------------------------------------------------------------------------------------------

# Alive and not a zombie (killed servers are re-parented; their new parent may reap them late).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# The pid is one of ours if its command line names this profile's data dir (guards against pid reuse).
ours() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$KP_DATA_DIR/"; }

# Runs "$@" as $1 in its own session (so a Ctrl+C meant for run.sh does not reach the server), cwd $2.
launch() {
  local user="$1" cwd="$2" log="$3"; shift 3
  (cd "$cwd" && exec setsid setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@" \
    </dev/null >>"$log" 2>&1) &
  echo $!
}

as_user() { local user="$1"; shift; setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"; }

port_check() {
  local name="$1" port="$2" variable="$3" who
  if command -v ss >/dev/null; then
    who="$(ss -ltnpH "sport = :$port" 2>/dev/null || true)"
  elif (exec 3<>"/dev/tcp/$KP_HOST/$port") 2>/dev/null; then
    who="something answers on $KP_HOST:$port"
  else
    who=""
  fi
  [ -z "$who" ] || die "port $port for $name is already in use: $who
  (another server, or ./run.sh / ./test.sh already running?) Stop it, or choose another port: $variable=<port>."
}

wait_ready() {
  local name="$1" pid="$2" log="$3"; shift 3
  local deadline=$((SECONDS + KP_START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then tail -n 25 "$log" >&2 || true; die "$name exited during start-up (log: $log)"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 25 "$log" >&2 || true; die "$name not ready after ${KP_START_TIMEOUT}s (KP_START_TIMEOUT; log: $log)"
    fi
    sleep 0.2
  done
  say "$name ready (pid $pid)"
}

stop_one() {
  local name="$1" signal="$2" file="$pid_dir/$1.pid" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if ours "$pid"; then
    kill -s "$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ${KP_STOP_TIMEOUT:-30}))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$pid"; then say "$name (pid $pid) did not stop in time: killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    while alive "$pid"; do sleep 0.1; done
    say "$name stopped (pid $pid)"
  fi
  rm -f "$file"
}

stop_all() {
  stop_one s3rver TERM
  stop_one mariadb TERM
  stop_one postgres INT   # SIGINT = PostgreSQL's "fast" shutdown: does not wait for clients to disconnect
}

any_running() {
  local f
  for f in "$pid_dir"/*.pid; do [ -f "$f" ] && ours "$(cat "$f")" && return 0; done
  return 1
}

# --- servers ---------------------------------------------------------------------------------------------

start_postgres() {
  local data="$KP_DATA_DIR/postgres/data" sock="$KP_DATA_DIR/postgres/run" log="$log_dir/postgres.log"
  mkdir -p "$KP_DATA_DIR/postgres" "$sock"
  chown postgres: "$KP_DATA_DIR/postgres" "$sock"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initdb $data"
    as_user postgres "$KP_PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
      --auth-local=peer --auth-host=scram-sha-256 >>"$log" 2>&1 || { tail -n 25 "$log" >&2; die "initdb failed (log: $log)"; }
  fi
  local extra=()
  # Test data is throw-away: skip the disk flushes.
  [ "$KP_PROFILE" = test ] && extra=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  local pid
  pid="$(launch postgres "$KP_DATA_DIR/postgres" "$log" "$KP_PG_BIN/postgres" -D "$data" \
    -c listen_addresses="$KP_HOST" -c port="$KP_PG_PORT" -c unix_socket_directories="$sock" \
    -c wal_level=logical -c track_commit_timestamp=on -c max_replication_slots=20 -c max_wal_senders=20 \
    -c max_connections=200 "${extra[@]}")"
  echo "$pid" >"$pid_dir/postgres.pid"
  wait_ready PostgreSQL "$pid" "$log" "$KP_PG_BIN/pg_isready" -q -h "$sock" -p "$KP_PG_PORT"

  # Role and database (idempotent). psql variables quote the values: :"x" identifier, :'x' literal.
  # The test profile's role may also create roles: tests check what the services say to a role lacking a right.
  local createrole=NOCREATEROLE
  [ "$KP_PROFILE" = test ] && createrole=CREATEROLE
  as_user postgres "$KP_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$KP_PG_PORT" -U postgres -d postgres \
    -v user="$KP_DB_USER" -v pw="$KP_DB_PASSWORD" -v db="$KP_DB_NAME" -v createrole="$createrole" >>"$log" 2>&1 <<'SQL' || { tail -n 25 "$log" >&2; die "PostgreSQL set-up failed (log: $log)"; }
SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" LOGIN REPLICATION CREATEDB :createrole PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

start_mariadb() {
  local data="$KP_DATA_DIR/mariadb/data" run="$KP_DATA_DIR/mariadb/run" log="$log_dir/mariadb.log"
  local sock="$run/mysqld.sock"
  mkdir -p "$KP_DATA_DIR/mariadb" "$run"
  chown mysql: "$KP_DATA_DIR/mariadb" "$run"
  if [ ! -d "$data/mysql" ]; then
    say "mariadb-install-db $data"
    mariadb-install-db --no-defaults --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
      --skip-test-db --skip-name-resolve >>"$log" 2>&1 || { tail -n 25 "$log" >&2; die "mariadb-install-db failed (log: $log)"; }
  fi
  local pid
  pid="$(launch mysql "$KP_DATA_DIR/mariadb" "$log" mariadbd --no-defaults --datadir="$data" --socket="$sock" \
    --pid-file="$run/mysqld.pid" --bind-address="$KP_HOST" --port="$KP_MYSQL_PORT" --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci --local-infile=1 --max-connections=300)"
  echo "$pid" >"$pid_dir/mariadb.pid"
  wait_ready MariaDB "$pid" "$log" mariadb-admin --no-defaults --socket="$sock" -u root ping

  # Names were validated below; GRANT ALL ON *.* lets tests create databases of their own (local dev only).
  mariadb --no-defaults --socket="$sock" -u root >>"$log" 2>&1 <<SQL || { tail -n 25 "$log" >&2; die "MariaDB set-up failed (log: $log)"; }
CREATE DATABASE IF NOT EXISTS \`$KP_DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$KP_DB_USER'@'%' IDENTIFIED BY '$KP_DB_PASSWORD';
CREATE USER IF NOT EXISTS '$KP_DB_USER'@'localhost' IDENTIFIED BY '$KP_DB_PASSWORD';
CREATE USER IF NOT EXISTS '$KP_DB_USER'@'127.0.0.1' IDENTIFIED BY '$KP_DB_PASSWORD';
ALTER USER '$KP_DB_USER'@'%' IDENTIFIED BY '$KP_DB_PASSWORD';
ALTER USER '$KP_DB_USER'@'localhost' IDENTIFIED BY '$KP_DB_PASSWORD';
ALTER USER '$KP_DB_USER'@'127.0.0.1' IDENTIFIED BY '$KP_DB_PASSWORD';
GRANT ALL ON *.* TO '$KP_DB_USER'@'%';
GRANT ALL ON *.* TO '$KP_DB_USER'@'localhost';
GRANT ALL ON *.* TO '$KP_DB_USER'@'127.0.0.1';
SQL
}

start_s3rver() {
  local data="$KP_DATA_DIR/s3" log="$log_dir/s3rver.log" url="$KP_S3_URL"
  mkdir -p "$data/objects"
  chown -R nobody: "$data"
  local pid
  # --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its
  # legacy provider; without it every truncated ListObjectsV2 answers 500 InternalError.
  pid="$(launch nobody "$data" "$log" node --openssl-legacy-provider "$here/s3/node_modules/s3rver/bin/s3rver.js" -d "$data/objects" \
    -a "$KP_HOST" -p "$KP_S3_PORT" --silent)"
  echo "$pid" >"$pid_dir/s3rver.pid"
  wait_ready s3rver "$pid" "$log" curl -sf -o /dev/null "$url/"
  # s3rver accepts unsigned requests: a plain PUT creates the bucket.
  if ! curl -sf -o /dev/null -I "$url/$KP_S3_BUCKET"; then
    curl -sf -o /dev/null -X PUT "$url/$KP_S3_BUCKET" || die "could not create bucket $KP_S3_BUCKET at $url"
  fi
  say "bucket $KP_S3_BUCKET ready"
}

# --- commands --------------------------------------------------------------------------------------------

# One server stopped gracefully and started again on its data (eng/faults.sh's server restarts).
cmd_restart() {
  [ "$(id -u)" -eq 0 ] || die "run as root"
  case "${1:-}" in
    postgres) stop_one postgres INT; start_postgres ;;
    mariadb) stop_one mariadb TERM; start_mariadb ;;
    s3rver) stop_one s3rver TERM; start_s3rver ;;
    *) die "restart needs a server: postgres, mariadb or s3rver" ;;
  esac
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "run as root (the servers are started as the users postgres, mysql and nobody)"
  [[ "$KP_DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || die "KP_DB_NAME '$KP_DB_NAME' must be a plain identifier"
  [[ "$KP_DB_USER" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || die "KP_DB_USER '$KP_DB_USER' must be a plain identifier"
  [[ "$KP_DB_PASSWORD" =~ ^[^\'\\]+$ ]] || die "KP_DB_PASSWORD must be non-empty without ' or \\"
  [[ "$KP_S3_BUCKET" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "KP_S3_BUCKET '$KP_S3_BUCKET' is not a valid bucket name"

  "$here/install.sh"

  if any_running; then say "servers of this profile are still running from an earlier start: stopping them"; stop_all; fi
  port_check PostgreSQL "$KP_PG_PORT" KP_PG_PORT
  port_check MariaDB "$KP_MYSQL_PORT" KP_MYSQL_PORT
  port_check s3rver "$KP_S3_PORT" KP_S3_PORT

  if [ -d "$KP_DATA_DIR" ] && { [ "$KP_FRESH" = 1 ] || [ "$KP_PROFILE" = test ]; }; then
    if [ -f "$marker" ] || [ -z "$(ls -A "$KP_DATA_DIR")" ]; then
      say "fresh data: removing $KP_DATA_DIR"
      rm -rf "$KP_DATA_DIR"
    else
      die "$KP_DATA_DIR exists but was not created by eng/servers.sh (no $(basename "$marker")): refusing to wipe it"
    fi
  fi
  mkdir -p "$KP_DATA_DIR" "$pid_dir" "$log_dir"
  chmod 755 "$KP_DATA_DIR"
  touch "$marker"

  # A failed start stops whatever it already started.
  trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed: stopping what was started"; stop_all; fi' EXIT
  start_postgres
  start_mariadb
  start_s3rver
  trap - EXIT

  say "PostgreSQL $KP_POSTGRES_CS"
  say "MariaDB    $KP_MYSQL_CS"
  say "S3         $KP_S3_URL bucket $KP_S3_BUCKET (access key $KP_S3_ACCESS_KEY)"
  say "data and logs in $KP_DATA_DIR; stop with: eng/servers.sh stop $KP_PROFILE"
}

cmd_status() {
  local name pid state rc=0
  for name in postgres mariadb s3rver; do
    pid="$(cat "$pid_dir/$name.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && ours "$pid"; then state="running (pid $pid)"; else state="stopped"; rc=3; fi
    printf 'servers[%s]: %-8s %s\n' "$KP_PROFILE" "$name" "$state"
  done
  say "ports: PostgreSQL $KP_PG_PORT, MariaDB $KP_MYSQL_PORT, s3rver $KP_S3_PORT; data $KP_DATA_DIR"
  return $rc
}

case "$cmd" in
  start) cmd_start ;;
  restart) cmd_restart "${3:-}" ;;
  stop) stop_all ;;
  status) cmd_status ;;
  *) echo "usage: eng/servers.sh start|stop|status [run|test]" >&2; exit 2 ;;
esac
