#!/usr/bin/env bash
# eng/faults.sh [--json PATH] [--logs DIR]: the fault run, on servers of its own.
#   Starts PostgreSQL, MariaDB and s3rver with the run profile's settings on their own ports and data folder, builds
#   Release, and runs `Benchmarks faults`: the source and both sinks under load (the Generator inserting and updating,
#   writers updating, deleting and committing late), then one fault after another (kill -9 and SIGSTOP of each
#   service, the Kafka broker down, a restart of MariaDB, of s3rver and of PostgreSQL). After each it checks MySQL and
#   the lake against PostgreSQL and prints a table: fault, time to recover, rows checked, lost, doubled, stale.
#   Exit code: 0 = every fault clean, 1 = something lost, doubled or stale, 3 = set-up failed. About 15 minutes.
#   Defaults: PostgreSQL 48432, MariaDB 48306, s3rver 48566, data .data/faults; override with KP_FAULTS_PG_PORT,
#   KP_FAULTS_MYSQL_PORT, KP_FAULTS_S3_PORT, KP_FAULTS_DATA_DIR. JSON: .data/faults-runs/<time>.json unless --json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

unset KP_ENV_PROFILE KP_TEST_POSTGRES KP_TEST_MYSQL KP_TEST_S3_URL KP_POSTGRES_CS KP_MYSQL_CS KP_S3_URL
export KP_PROFILE=run
export KP_DATA_DIR="${KP_FAULTS_DATA_DIR:-$root/.data/faults}"
export KP_PG_PORT="${KP_FAULTS_PG_PORT:-48432}"
export KP_MYSQL_PORT="${KP_FAULTS_MYSQL_PORT:-48306}"
export KP_S3_PORT="${KP_FAULTS_S3_PORT:-48566}"
export KP_FRESH=1
# shellcheck source=env.sh
source "$root/eng/env.sh"

args=("$@")
if [[ " $* " != *" --json "* ]]; then
  kp_safe_dir "$root/.data/faults-runs" 700 || exit 3
  args+=(--json "$root/.data/faults-runs/$(date -u +%Y%m%dT%H%M%SZ).json")
fi

echo "faults.sh: building Release"
(cd "$root" && dotnet build Benchmarks/Benchmarks.csproj -c Release -nologo -v q) \
  || { echo "faults.sh: build failed" >&2; exit 3; }

trap 'bash "$root/eng/servers.sh" stop run >/dev/null 2>&1 || true' EXIT
bash "$root/eng/servers.sh" start run

cd "$root/Benchmarks/bin/Release/net10.0"
export KP_BENCH_COMMAND="eng/faults.sh $*"
set +e
dotnet Benchmarks.dll faults --s3-data-dir "$KP_DATA_DIR/s3/objects" "${args[@]}"
rc=$?
set -e
echo "faults.sh: exit code $rc"
exit $rc
