#!/usr/bin/env bash
# eng/bench.sh [Benchmarks options]: the end-to-end benchmark on servers of its own.
#   Starts PostgreSQL, MariaDB and s3rver with the run profile's settings (durable commits, like ./run.sh) on their own
#   ports and data folder, so it works beside ./run.sh and ./test.sh; builds Release; runs Benchmarks (which starts the
#   embedded Kafka and the services as processes); stops the servers. Exit code: the benchmark's (1 = a store missed or
#   doubled users, reported as FAILED).
#   Examples: eng/bench.sh                 (200,000 users, 60 s per latency rate: about 6-8 minutes)
#             eng/bench.sh --quick         (under 3 minutes)
#             eng/bench.sh --users 1000000 --json /tmp/bench.json
#   Defaults: PostgreSQL 49432, MariaDB 49306, s3rver 49566, data .data/bench-servers;
#   override with KP_BENCH_PG_PORT, KP_BENCH_MYSQL_PORT, KP_BENCH_S3_PORT, KP_BENCH_DATA_DIR. JSON: .data/bench/<time>.json
#   unless --json. Folders are checked as eng/safe-dir.sh says (no symbolic link, nobody else's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Settings of another profile sourced in this shell must not leak in: start from the bench's own.
unset KP_ENV_PROFILE KP_TEST_POSTGRES KP_TEST_MYSQL KP_TEST_S3_URL KP_POSTGRES_CS KP_MYSQL_CS KP_S3_URL
export KP_PROFILE=run
# Data of its own, so its fresh start never touches ./run.sh's servers or data.
export KP_DATA_DIR="${KP_BENCH_DATA_DIR:-$root/.data/bench-servers}"
export KP_PG_PORT="${KP_BENCH_PG_PORT:-49432}"
export KP_MYSQL_PORT="${KP_BENCH_MYSQL_PORT:-49306}"
export KP_S3_PORT="${KP_BENCH_S3_PORT:-49566}"
export KP_FRESH=1
# shellcheck source=env.sh
source "$root/eng/env.sh"

# KP_BENCH_MODE=faults: the fault run instead (eng/faults.sh), its JSON in .data/faults-runs.
mode=()
reports="$root/.data/bench"
if [ "${KP_BENCH_MODE:-}" = faults ]; then mode=(faults); reports="$root/.data/faults-runs"; fi
args=("$@")
if [[ " $* " != *" --json "* ]]; then
  kp_safe_dir "$reports" 700 || exit 3
  args+=(--json "$reports/$(date -u +%Y%m%dT%H%M%SZ).json")
fi

echo "bench.sh: building Release"
(cd "$root" && dotnet build Benchmarks/Benchmarks.csproj -c Release -nologo -v q) \
  || { echo "bench.sh: build failed" >&2; exit 3; }

trap 'bash "$root/eng/servers.sh" stop run >/dev/null 2>&1 || true' EXIT
bash "$root/eng/servers.sh" start run

cd "$root/Benchmarks/bin/Release/net10.0"
export KP_BENCH_COMMAND="${KP_BENCH_COMMAND:-eng/bench.sh $*}"
set +e
dotnet Benchmarks.dll "${mode[@]}" --s3-data-dir "$KP_DATA_DIR/s3/objects" "${args[@]}"
rc=$?
set -e
echo "bench.sh: exit code $rc"
exit $rc
