#!/usr/bin/env bash
# ./test.sh [dotnet test arguments, e.g. --filter FullyQualifiedName~Runtime]
# Installs what is missing, starts PostgreSQL, MariaDB and s3rver on the test ports and data dir (eng/test-env.sh:
# 55432/53306/54566, .data/test, so it works while ./run.sh is running), builds the solution (KafkaPipeline.sln, the
# Aspire AppHost included), runs all its tests (the AppHost's start their own servers on free ports), stops the
# servers. The last line is "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source eng/test-env.sh

# Each test project writes <project>/TestResults/results.trx (ignored by git): one file per project, no name clash.
trx_files() { find "$KP_ROOT" -path "$KP_ROOT/.data" -prune -o -path '*/node_modules' -prune -o \
  -path '*/TestResults/results.trx' -type f -print; }
trx_files | xargs -r rm -f

summary() {   # the last line; a build or run failure with no failed test counts as one failure
  echo "$1 passed, $2 failed$([ "$3" -gt 0 ] && echo ", $3 skipped")"
}
stopped=0
stop_servers() { [ "$stopped" = 1 ] || { stopped=1; eng/servers.sh stop test || true; }; }
trap stop_servers EXIT
trap 'echo "test.sh: interrupted"; exit 130' INT
trap 'echo "test.sh: terminated"; exit 143' TERM

if ! eng/servers.sh start test; then
  echo "test.sh: the test servers did not start (see above)"
  summary 0 1 0; exit 1
fi

# No build servers left behind (they would outlive this script and could hold CI's output open).
export UseSharedCompilation=false
echo "test.sh: building KafkaPipeline.sln"
if ! dotnet build KafkaPipeline.sln -nologo -v:minimal -nodeReuse:false; then
  echo "test.sh: the build failed (errors above); no tests ran"
  stop_servers
  summary 0 1 0; exit 1
fi

# --blame-hang-timeout: a test hanging for 10 minutes fails the run (with a dump) instead of blocking it forever.
dotnet test KafkaPipeline.sln --no-build -nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --blame-hang-timeout 10m "$@"
test_rc=$?
stop_servers

passed=0 failed=0 skipped=0 files=0
while read -r trx; do
  files=$((files + 1))
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  count() { local v; v="$(echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p")"; echo "${v:-0}"; }
  passed=$((passed + $(count passed)))
  failed=$((failed + $(count failed) + $(count error) + $(count timeout) + $(count aborted)))
  skipped=$((skipped + $(count notExecuted)))
done < <(trx_files)

if [ "$files" -eq 0 ]; then
  echo "test.sh: dotnet test wrote no results (exit code $test_rc)"
  summary 0 1 0; exit 1
fi
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test.sh: dotnet test failed (exit code $test_rc) although no test result says failed: counted as 1 failure"
  failed=1
fi
# The failed tests again, by name with the first lines of their message, so the end of a long log says what failed.
if [ "$failed" -gt 0 ]; then
  while read -r trx; do
    awk '/<UnitTestResult / && /outcome="Failed"/ { match($0, /testName="[^"]*"/); print "test.sh: FAILED " substr($0, RSTART + 10, RLENGTH - 11); want = 1 }
         want && /<Message>/ { inmsg = 1; lines = 0; sub(/.*<Message>/, "") }
         inmsg { done = sub(/<\/Message>.*/, ""); if (lines++ < 6) print "    " $0; if (done) { inmsg = 0; want = 0 } }' "$trx"
  done < <(trx_files)
fi
echo "test.sh: results in $(trx_files | sed "s#^$KP_ROOT/##" | tr '\n' ' ')"
summary "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
