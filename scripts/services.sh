#!/usr/bin/env bash
# Starts the local-only MongoDB-wire server and Redis when they are not already up.
# Usage: scripts/services.sh MONGO_PORT REDIS_PORT DATA_DIR   (a port of "-" skips that service)
# DB_ENGINE picks the MongoDB-wire server: `secantus` (default: SecantusDB on WiredTiger, which
# uses its indexes and applies conditional updates atomically, like MongoDB) or `ferretdb`
# (FerretDB v1 on SQLite, the fallback; the app then needs DOCUMENT_LOCKS=true).
# Prints the pids it started (one per line, the database first) so the caller can stop them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mongo_port=$1; redis_port=$2; data=$3
# DB_ENGINE=mongodb (an external server) still gets the embedded default when one is started.
engine=secantus
[ "${DB_ENGINE:-}" = ferretdb ] && engine=ferretdb
mkdir -p "$data/$engine" "$data/redis"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 300); do listening "$1" && return 0; sleep 0.1; done
  echo "$2 did not start on port $1; see $3" >&2; return 1
}

if [ "$mongo_port" != - ] && ! listening "$mongo_port"; then
  case "$engine" in
    secantus)
      "$root/.venv/bin/secantusd-py" --standalone --host 127.0.0.1 --port "$mongo_port" \
        --storage-path "$data/secantus" --log-level WARNING >"$data/secantus.log" 2>&1 &
      ;;
    ferretdb)
      "$root/.tools/bin/ferretdb" --handler=sqlite --sqlite-url="file:$data/ferretdb/" \
        --state-dir="$data/ferretdb" --listen-addr="127.0.0.1:$mongo_port" --debug-addr=- \
        --telemetry=disable --log-level=warn >"$data/ferretdb.log" 2>&1 &
      ;;
  esac
  echo $!
  wait_for "$mongo_port" "$engine" "$data/$engine.log"
fi
if [ "$redis_port" != - ] && ! listening "$redis_port"; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --save "" \
    --appendonly no >"$data/redis.log" 2>&1 &
  echo $!
  wait_for "$redis_port" Redis "$data/redis.log"
fi
