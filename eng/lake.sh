#!/usr/bin/env bash
# eng/lake.sh "<query>" [--as-of <timestamp|LSN>] [--format table|csv|json] [...]: SQL over the lake (docs/lake.md).
#   The same as: dotnet run --project Lake -- sql "<query>" ...; results to stdout, messages to stderr.
#   The store: ConnectionStrings__s3 if set, else the lake ./run.sh serves.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: eng/lake.sh \"<query>\" [--as-of <timestamp|LSN>] [--format table|csv|json]" >&2
  exit 2
fi
# Built once, quietly (build output would mix with the results on stdout).
dotnet build "$root/Lake/Lake.csproj" -nologo -v q >&2
exec dotnet "$root/Lake/bin/Debug/net10.0/Lake.dll" sql "$@"
