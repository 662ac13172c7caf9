#!/usr/bin/env bash
# eng/faults.sh [--quick] [--json PATH] [--logs DIR]: the fault run, on servers of its own (eng/bench.sh's set-up, other ports).
#   Runs `Benchmarks faults`: the source and both sinks under load (the Generator inserting and updating, writers
#   updating, deleting and committing late), then one fault after another (kill -9 and SIGSTOP of each service, the
#   Kafka broker down, a restart of MariaDB, of s3rver and of PostgreSQL). After each it checks MySQL and the lake
#   against PostgreSQL and prints a table: fault, time to recover, rows checked, lost, doubled, stale.
#   --quick: the short run (a killed sink, a frozen source and sink, the broker down; about 4 minutes).
#   Exit code: 0 = every fault clean, 1 = something lost, doubled or stale, 3 = set-up failed. About 15 minutes.
#   Defaults: PostgreSQL 48432, MariaDB 48306, s3rver 48566, data .data/faults; override with KP_FAULTS_PG_PORT,
#   KP_FAULTS_MYSQL_PORT, KP_FAULTS_S3_PORT, KP_FAULTS_DATA_DIR. JSON: .data/faults-runs/<time>.json unless --json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KP_BENCH_PG_PORT="${KP_FAULTS_PG_PORT:-48432}"
export KP_BENCH_MYSQL_PORT="${KP_FAULTS_MYSQL_PORT:-48306}"
export KP_BENCH_S3_PORT="${KP_FAULTS_S3_PORT:-48566}"
export KP_BENCH_DATA_DIR="${KP_FAULTS_DATA_DIR:-$root/.data/faults}"
export KP_BENCH_MODE=faults
export KP_BENCH_COMMAND="eng/faults.sh $*"
exec bash "$root/eng/bench.sh" "$@"
