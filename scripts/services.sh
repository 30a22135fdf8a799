#!/usr/bin/env bash
# Starts the local-only MongoDB-wire server (FerretDB) and Redis when they are not already up.
# Usage: scripts/services.sh MONGO_PORT REDIS_PORT DATA_DIR   (a port of "-" skips that service)
# Prints the pids it started (one per line) so the caller can stop exactly those.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mongo_port=$1; redis_port=$2; data=$3
mkdir -p "$data/ferretdb" "$data/redis"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done
  echo "$2 did not start on port $1; see $3" >&2; return 1
}

if [ "$mongo_port" != - ] && ! listening "$mongo_port"; then
  "$root/.tools/bin/ferretdb" --handler=sqlite --sqlite-url="file:$data/ferretdb/" \
    --state-dir="$data/ferretdb" --listen-addr="127.0.0.1:$mongo_port" --debug-addr=- \
    --telemetry=disable --log-level=warn >"$data/ferretdb.log" 2>&1 &
  echo $!
  wait_for "$mongo_port" FerretDB "$data/ferretdb.log"
fi
if [ "$redis_port" != - ] && ! listening "$redis_port"; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --save "" \
    --appendonly no >"$data/redis.log" 2>&1 &
  echo $!
  wait_for "$redis_port" Redis "$data/redis.log"
fi
