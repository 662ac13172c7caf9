#!/usr/bin/env bash
# Installs what the local runtime needs on Debian 12 (run as root), skipping what is already present:
# PostgreSQL 15, MariaDB 10.11, s3rver, Chromium (headless, for the browser tests). No librdkafka: the Kafka client and the embedded Kafka use the build that the
# librdkafka.redist NuGet package ships (Shared/Kafka/Librdkafka.cs), whatever librdkafka the machine has.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_apt=()
for pkg in postgresql mariadb-server chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
# Used by eng/servers.sh: curl (readiness, bucket), ss (port check), setpriv (run servers as non-root).
command -v curl >/dev/null || need_apt+=(curl)
command -v ss >/dev/null || need_apt+=(iproute2)
command -v setpriv >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "install.sh: missing ${need_apt[*]}; run as root (or install them)" >&2; exit 1; }
  echo "install.sh: installing ${need_apt[*]}"
  # Our scripts start the servers themselves: no default PostgreSQL cluster, no services started by apt.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/kafkapipeline.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "install.sh: node (20+) is required for s3rver" >&2; exit 1; }
if [ ! -f "$here/s3/node_modules/s3rver/bin/s3rver.js" ]; then
  echo "install.sh: installing s3rver (npm ci, pinned by eng/s3/package-lock.json)"
  (cd "$here/s3" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "install.sh: all present"
