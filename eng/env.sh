# Settings of the servers eng/servers.sh starts for ./test.sh and eng/bench.sh, sourced by them (not run directly).
# (./run.sh is the Aspire AppHost, which starts its own servers: AppHost/Servers.) Two profiles:
#   run  (eng/bench.sh, with its own ports): PostgreSQL 5432, MariaDB 3306, s3rver 4566, data in .data/run
#   test (./test.sh): PostgreSQL 55432, MariaDB 53306, s3rver 54566, data in .data/test
# Choose with KP_PROFILE=run|test before sourcing (eng/test-env.sh does that for test).
# Every KP_* value below may be set in the environment beforehand to override the default.

KP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KP_PROFILE="${KP_PROFILE:-run}"

case "$KP_PROFILE" in
  run)  _kp_pg=5432;  _kp_my=3306;  _kp_s3=4566 ;;
  test) _kp_pg=55432; _kp_my=53306; _kp_s3=54566 ;;
  *) echo "env.sh: unknown KP_PROFILE '$KP_PROFILE' (use run or test)" >&2; return 1 2>/dev/null || exit 1 ;;
esac

# Values exported by an earlier sourcing for the other profile must not leak into this one.
if [ -n "${KP_ENV_PROFILE:-}" ] && [ "$KP_ENV_PROFILE" != "$KP_PROFILE" ]; then
  unset KP_DATA_DIR KP_PG_PORT KP_MYSQL_PORT KP_S3_PORT KP_TEST_POSTGRES KP_TEST_MYSQL KP_TEST_S3_URL
fi
export KP_ROOT KP_PROFILE KP_ENV_PROFILE="$KP_PROFILE"
# The servers run as postgres/mysql/nobody, so every folder above their data must be enterable by others.
# A clone under /root (mode 700) is not: its data then goes to /var/lib/kafkapipeline/<checksum of the clone's path>
# (/var/lib: only root may create anything there, so nobody can plant a symbolic link in its way).
# shellcheck source=safe-dir.sh
source "$KP_ROOT/eng/safe-dir.sh"
_kp_default_data="$KP_ROOT/.data/$KP_PROFILE"   # ignored by git (.gitignore: .data/)
_kp_d="$KP_ROOT"
while [ "$_kp_d" != / ]; do
  if [ $(( 0$(stat -c %a "$_kp_d") & 1 )) -eq 0 ]; then
    _kp_default_data="/var/lib/kafkapipeline/$(printf %s "$KP_ROOT" | cksum | cut -d' ' -f1)/$KP_PROFILE"; break
  fi
  _kp_d="$(dirname "$_kp_d")"
done
export KP_DATA_DIR="${KP_DATA_DIR:-$_kp_default_data}"
# eng/servers.sh wipes and re-creates KP_DATA_DIR as root: it must not be a symbolic link or somebody else's, nor may
# the folder above it (created here, mode 711: the servers' users pass through, nobody else lists or writes it).
kp_safe_dir "$(dirname -- "$KP_DATA_DIR")" 711 || { echo "env.sh: KP_DATA_DIR=$KP_DATA_DIR refused (above)" >&2; return 1 2>/dev/null || exit 1; }
if [ -e "$KP_DATA_DIR" ] || [ -L "$KP_DATA_DIR" ]; then
  _kp_check_dir "$KP_DATA_DIR" || { echo "env.sh: KP_DATA_DIR=$KP_DATA_DIR refused (above)" >&2; return 1 2>/dev/null || exit 1; }
fi
export KP_HOST="${KP_HOST:-127.0.0.1}"
export KP_PG_PORT="${KP_PG_PORT:-$_kp_pg}"
export KP_MYSQL_PORT="${KP_MYSQL_PORT:-$_kp_my}"
export KP_S3_PORT="${KP_S3_PORT:-$_kp_s3}"
export KP_DB_NAME="${KP_DB_NAME:-TEST}"            # same name in PostgreSQL and MariaDB
export KP_DB_USER="${KP_DB_USER:-TEST}"
export KP_DB_PASSWORD="${KP_DB_PASSWORD:-password}"
export KP_S3_BUCKET="${KP_S3_BUCKET:-users-lake}"
export KP_S3_ACCESS_KEY="${KP_S3_ACCESS_KEY:-S3RVER}"
export KP_S3_SECRET_KEY="${KP_S3_SECRET_KEY:-S3RVER}"
export KP_PG_BIN="${KP_PG_BIN:-/usr/lib/postgresql/15/bin}"
export KP_START_TIMEOUT="${KP_START_TIMEOUT:-60}"  # seconds to wait for each server to become ready
# 1 = wipe the profile's data directory on every start. Default 1: Kafka is in memory, so keeping the
# databases across restarts would leave them out of step with it. KP_FRESH=0 reuses the data.
export KP_FRESH="${KP_FRESH:-1}"
unset _kp_pg _kp_my _kp_s3 _kp_d _kp_default_data

# Connection strings in the form the services and tests read.
export KP_POSTGRES_CS="Host=$KP_HOST;Port=$KP_PG_PORT;Username=$KP_DB_USER;Password=$KP_DB_PASSWORD;Database=$KP_DB_NAME"
export KP_MYSQL_CS="Server=$KP_HOST;Port=$KP_MYSQL_PORT;User ID=$KP_DB_USER;Password=$KP_DB_PASSWORD;Database=$KP_DB_NAME;SslMode=None"
export KP_S3_URL="http://$KP_HOST:$KP_S3_PORT"

if [ "$KP_PROFILE" = test ]; then
  export KP_TEST_POSTGRES="$KP_POSTGRES_CS"
  export KP_TEST_MYSQL="$KP_MYSQL_CS"
  export KP_TEST_S3_URL="$KP_S3_URL"
fi
