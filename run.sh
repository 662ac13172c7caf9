#!/usr/bin/env bash
# ./run.sh [AppHost settings]: the whole pipeline through its Aspire AppHost (local runtime), until Ctrl+C or SIGTERM.
#   Installs what is missing (eng/install.sh), builds, starts `dotnet run --project AppHost` (launch profile "http":
#   dashboard on http://localhost:15000), prints the Aspire dashboard's and the pipeline Dashboard's login URLs (a token
#   made for this run: http://127.0.0.1:5080/login?t=<token>) and where every store listens (PostgreSQL
#   5432, MariaDB 3306, s3rver 4566, the embedded Kafka's bootstrap list), then the Monitor's status line every 5 s.
#   Arguments go to the AppHost: ./run.sh --Generator:RatePerSecond=200 --Pipeline:SinkReplicas=2
#   More tables: ./run.sh --Pipeline:Tables=users,orders (a topic, a MySQL table and a lake folder each; docs/aspire.md, "More tables").
#   The AppHost's full output: .data/apphost.log. Every start begins with empty stores (Kafka lives in memory).
#   Ctrl+C or SIGTERM stops the AppHost, which stops every resource; then it checks that no process and no port is left.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$(pwd)"
say() { echo "run.sh: $*"; }

ports=(5432 3306 4566 15000 19000 20000 5080)   # the stores, the Aspire dashboard, its OTLP and resource-service ports, the Dashboard
data="$root/.data/apphost"                 # AppHost/appsettings.json: LocalRuntime:DataDirectory
log="$root/.data/apphost.log"

listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
# Processes of this run: the servers (working on its data) and the services (this checkout's builds; the AppHost also
# ends a service whose `dotnet run` launcher died alone, and this catches one it could not).
services() { local p; for p in $(pgrep -f -- "$root/[A-Za-z]+/bin/Release/"); do grep -qa KAFKAPIPELINE_RUN= "/proc/$p/environ" 2>/dev/null && echo "$p"; done; }
ours() { { pgrep -f -- "$data/"; services; } | grep -vx "$$" || true; }
anything_left() {
  local p
  [ -n "$(ours)" ] && return 0
  for p in "${ports[@]}"; do listening "$p" && return 0; done
  return 1
}

eng/install.sh || { say "ERROR: installing what the local runtime needs failed"; exit 1; }
for p in "${ports[@]}"; do
  listening "$p" && { say "ERROR: port $p is in use: $(ss -ltnpH "sport = :$p" | head -n 1)"; exit 1; }
done

export UseSharedCompilation=false
say "building AppHost (Release) and the services"
dotnet build AppHost -c Release -nologo -v:minimal -nodeReuse:false || { say "ERROR: the build failed"; exit 1; }

# The data and log folder: ours, no symbolic link, nobody else may write in it (root follows links: > log, the servers'
# chown). eng/safe-dir.sh refuses anything else, naming it.
source "$root/eng/safe-dir.sh"
kp_safe_dir "$root/.data" 711 || { say "ERROR: $root/.data refused (above)"; exit 1; }
if [ -L "$log" ] || { [ -e "$log" ] && [ ! -f "$log" ]; }; then say "ERROR: $log is not a plain file: refusing to write to it"; exit 1; fi
: > "$log"
chmod 600 "$log"   # it holds the login URL
# Its own session: a terminal's Ctrl+C reaches only this script, which then stops the AppHost in order.
setsid dotnet run --project AppHost -c Release --no-build --launch-profile http -- "$@" </dev/null >>"$log" 2>&1 &
apphost=$!

# What a person needs from the AppHost's output: the runtime chosen, the login URL, the status line, errors.
# --pid: tail ends by itself if this script is killed outright (then grep and sed see the end of their input).
tail -n +1 -F --pid=$$ "$log" 2>/dev/null | grep --line-buffered -E 'AppHost: |Login to the dashboard|\[status |fail: |crit: |Unhandled exception|missing:' \
  | sed -u -e 's/^ *//' -e 's/^[0-9TZ:.-]* //' &
printer=$!
# Every process of that pipeline is a child of this script ($! is only its last one, sed).
stop_printer() { pkill -TERM -P $$ -x tail; pkill -TERM -P $$ -x grep; kill "$printer" 2>/dev/null; }

stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap 'say "already stopping"' INT TERM
  say "stopping the AppHost (it stops every resource)"
  kill -TERM -- "-$apphost" 2>/dev/null
  local deadline=$((SECONDS + 90))
  while kill -0 "$apphost" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  if kill -0 "$apphost" 2>/dev/null; then say "the AppHost did not stop in 90 s: killing it"; kill -KILL -- "-$apphost" 2>/dev/null; fi
  wait "$apphost" 2>/dev/null
  # DCP stops the resources as the AppHost goes; give the last ones a moment, then check.
  deadline=$((SECONDS + 60))
  while anything_left && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
  if [ -n "$(ours)" ]; then
    say "ending processes of this run that outlived the AppHost: $(ours | tr '\n' ' ')"
    ours | xargs -r kill -TERM 2>/dev/null; sleep 3; ours | xargs -r kill -KILL 2>/dev/null; sleep 0.5
  fi
  stop_printer
  local left=() p
  for p in "${ports[@]}"; do listening "$p" && left+=("port $p"); done
  sleep 0.2; [ -n "$(pgrep -P $$ -x 'tail|grep|sed')" ] && left+=("the log printer")
  [ -n "$(ours)" ] && left+=("processes $(ours | tr '\n' ' ')")
  if [ ${#left[@]} -eq 0 ]; then say "stopped: no process and no listening port left"; else say "WARNING: still there: ${left[*]}"; fi
}
trap 'say "stopping (signal)"; stop_all; exit 0' INT TERM
trap '' PIPE   # a closed terminal or pipe must not end this script before it has stopped the AppHost

# The stores' addresses once the AppHost has started them (the Kafka bootstrap list appears when the cluster is up).
deadline=$((SECONDS + 300))
until [ -s "$data/kafka/bootstrap" ] || ! kill -0 "$apphost" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; do sleep 1; done
if ! kill -0 "$apphost" 2>/dev/null; then
  wait "$apphost"; rc=$?; sleep 1; stop_printer
  say "ERROR: the AppHost exited (code $rc) during start-up; its output: $log"; exit 1
fi
bootstrap="$(head -n 1 "$data/kafka/bootstrap" 2>/dev/null)"
# The Dashboard's login and wall-screen URLs (tokens new on every run: AppHost/DashboardLogin.cs).
login="$(grep -o 'Dashboard login http[^ ]*' "$log" | head -n 1 | cut -d' ' -f3)"
wall="$(grep -o 'Dashboard wall screen (CEO page only) http[^ ]*' "$log" | head -n 1 | awk '{print $NF}')"
tables="$(grep -o 'AppHost: tables [^ ]*' "$log" | head -n 1 | awk '{print $NF}')"
cat <<EOT
run.sh: ---------------------------------------------------------------------------------------------
run.sh: running; Ctrl+C or SIGTERM (kill $$) stops everything. The dashboard: the login URL above. By hand:
run.sh:   PostgreSQL  PGPASSWORD=password psql -h 127.0.0.1 -p 5432 -U TEST TEST -c 'SELECT count(*) FROM users'
run.sh:   MariaDB     mariadb -h 127.0.0.1 -P 3306 -u TEST -ppassword TEST -e 'SELECT count(*) FROM users'
run.sh:   Kafka       bootstrap=${bootstrap:-?} (also in $data/kafka/bootstrap)
run.sh:   S3          curl -s 'http://127.0.0.1:4566/users-lake?list-type=2&prefix=topics/P_USERS/'   (keys S3RVER/S3RVER)
run.sh:   tables      ${tables:-users}: each in its topic P_<TABLE>, its MySQL table and under topics/P_<TABLE>/ (docs/aspire.md, "More tables")
run.sh:   Dashboard   ${login:-the "Dashboard login" URL above}  (log in: customers live at /, topic browser at /kafka/)
run.sh:               wall screen (CEO page only): ${wall:-the "wall screen" URL above}
run.sh:   logs        the dashboard's Console logs, or $log
run.sh: ---------------------------------------------------------------------------------------------
EOT

while kill -0 "$apphost" 2>/dev/null; do
  sleep 1 &
  wait $! 2>/dev/null
done
wait "$apphost"; rc=$?
stop_all
say "the AppHost exited by itself (code $rc)"
exit 1
