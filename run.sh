#!/usr/bin/env bash
# ./run.sh: the whole pipeline on this machine, until Ctrl+C or SIGTERM.
#   PostgreSQL 5432, MariaDB 3306, s3rver 4566 (eng/servers.sh, run profile, data in .data/run),
#   the embedded Kafka (in memory), then Generator, SourceService, MySqlSinkService, S3SinkService and Monitor
#   as separate processes, their output prefixed with their name. Settings and overrides: eng/env.sh.
# Every start begins with empty databases (KP_FRESH=1): Kafka lives in memory, so old database contents would be
# out of step with it. On exit it stops what it started: services, then Kafka, then the servers.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source eng/run-env.sh

say() { echo "run.sh: $*"; }
services=(Generator SourceService MySqlSinkService S3SinkService)
declare -A pids=()      # name -> pid of everything started here except the servers
order=()                # start order; stopped in reverse
servers_started=0
stopping=0

stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap 'say "already stopping"' INT TERM
  local i name pid
  # Services (and Monitor) first, all at once, then Kafka, then the servers.
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do
    name="${order[i]}"; pid="${pids[$name]}"
    [ "$name" = kafka ] && continue
    kill -TERM "$pid" 2>/dev/null
  done
  for name in "${order[@]}"; do [ "$name" = kafka ] || wait_stopped "$name" "${pids[$name]}"; done
  if [ -n "${pids[kafka]:-}" ]; then kill -TERM "${pids[kafka]}" 2>/dev/null; wait_stopped kafka "${pids[kafka]}"; fi
  [ "$servers_started" = 1 ] && eng/servers.sh stop run
}

# Alive and not a zombie.
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

wait_stopped() {   # name pid: waits up to 30 s after SIGTERM, then kills
  local deadline=$((SECONDS + 30))
  while alive "$2" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if alive "$2"; then say "$1 (pid $2) did not stop in 30 s: killing"; kill -KILL "$2" 2>/dev/null; fi
  wait "$2" 2>/dev/null
  say "$1 stopped"
}

fail() { say "ERROR: $*"; stop_all; exit 1; }
trap 'say "stopping (signal)"; stop_all; exit 0' INT TERM

# start NAME DLL [ARGS...]: runs `dotnet DLL ARGS` in its own session (so a terminal Ctrl+C reaches only this
# script, which then stops things in order), output prefixed with [NAME]; the prefixer ignores the signals too.
# Runs in the dll's folder, so each service finds its own appsettings*.json.
start() {
  local name="$1"; shift
  (cd "$(dirname "$1")" && exec setsid dotnet "$@") </dev/null > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pids[$name]=$!
  order+=("$name")
}

port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# Build first: a compile error should not leave servers running.
export UseSharedCompilation=false
say "building KafkaPipeline.Local.slnf (Release)"
dotnet build KafkaPipeline.Local.slnf -c Release -nologo -v:minimal -nodeReuse:false || { say "ERROR: the build failed"; exit 1; }

for i in "${!services[@]}"; do
  port=$((KP_SERVICE_PORT_BASE + i))
  port_free "$port" || fail "port $port for ${services[i]} is in use (KP_SERVICE_PORT_BASE=$KP_SERVICE_PORT_BASE moves all four)"
done

servers_started=1
eng/servers.sh start run || fail "the servers did not start"

bin() { echo "$KP_ROOT/$1/bin/Release/net10.0/$1.dll"; }
bootstrap_file="$KP_DATA_DIR/kafka/bootstrap"
rm -f "$bootstrap_file"
kafka_args=(--brokers "$KP_KAFKA_BROKERS" --bootstrap-file "$bootstrap_file")
for t in $KP_KAFKA_TOPICS; do kafka_args+=(--topic "$t"); done
start kafka "$(bin EmbeddedKafka)" "${kafka_args[@]}"
deadline=$((SECONDS + KP_START_TIMEOUT))
until [ -s "$bootstrap_file" ]; do
  alive "${pids[kafka]}" || fail "the embedded Kafka exited during start-up"
  [ "$SECONDS" -lt "$deadline" ] || fail "the embedded Kafka wrote no $bootstrap_file within ${KP_START_TIMEOUT}s"
  sleep 0.2
done
bootstrap="$(head -n 1 "$bootstrap_file")"
say "Kafka at $bootstrap"

# The names the Aspire AppHost injects.
export ConnectionStrings__usersdb="$KP_POSTGRES_CS"
export ConnectionStrings__kafka="$bootstrap"
export ConnectionStrings__emaildb="$KP_MYSQL_CS"
export S3__ServiceUrl="$KP_S3_URL" S3__Bucket="$KP_S3_BUCKET" S3__AccessKey="$KP_S3_ACCESS_KEY" S3__SecretKey="$KP_S3_SECRET_KEY"
export Logging__Console__FormatterName=simple Logging__Console__FormatterOptions__SingleLine=true
for i in "${!services[@]}"; do
  name="${services[i]}"
  [ -f "$(bin "$name")" ] || fail "$(bin "$name") is missing"
  ASPNETCORE_URLS="http://$KP_HOST:$((KP_SERVICE_PORT_BASE + i))" start "$name" "$(bin "$name")"
done
if [ -f "$(bin Monitor)" ]; then start Monitor "$(bin Monitor)"; else say "no Monitor build: not started"; fi

p=$KP_SERVICE_PORT_BASE
cat <<EOF
run.sh: ---------------------------------------------------------------------------------------------
run.sh: running; Ctrl+C or SIGTERM (kill $$) stops everything. Look at the stores by hand:
run.sh:   PostgreSQL  PGPASSWORD=$KP_DB_PASSWORD psql -h $KP_HOST -p $KP_PG_PORT -U $KP_DB_USER $KP_DB_NAME -c 'SELECT count(*) FROM users'
run.sh:   MariaDB     mariadb -h $KP_HOST -P $KP_MYSQL_PORT -u $KP_DB_USER -p$KP_DB_PASSWORD $KP_DB_NAME -e 'SELECT count(*) FROM users'
run.sh:   Kafka       kcat -b $bootstrap -L      |  kcat -b $bootstrap -C -t P_USERS -o beginning -e -c 5
run.sh:   S3          curl -s '$KP_S3_URL/$KP_S3_BUCKET?list-type=2'
run.sh:               (aws cli: AWS_ACCESS_KEY_ID=$KP_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$KP_S3_SECRET_KEY aws --endpoint-url $KP_S3_URL s3 ls s3://$KP_S3_BUCKET --recursive)
run.sh:   services    Generator http://$KP_HOST:$p  SourceService http://$KP_HOST:$((p + 1))  MySqlSinkService http://$KP_HOST:$((p + 2))  S3SinkService http://$KP_HOST:$((p + 3))  (/health, /alive)
run.sh:   logs        servers: $KP_DATA_DIR/logs
run.sh: ---------------------------------------------------------------------------------------------
EOF

# Wait for a signal; report programs that end on their own (the embedded Kafka ending is fatal).
declare -A reported=()
while true; do
  sleep 1 &
  wait $! 2>/dev/null
  for name in "${order[@]}"; do
    if [ -z "${reported[$name]:-}" ] && ! alive "${pids[$name]}"; then
      reported[$name]=1
      wait "${pids[$name]}" 2>/dev/null; rc=$?
      [ "$name" = kafka ] && fail "the embedded Kafka exited (code $rc)"
      say "WARNING: $name exited (code $rc); the others keep running"
    fi
  done
done
