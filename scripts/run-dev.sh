#!/usr/bin/env bash
# `make run`: the local MongoDB-wire server and Redis (unless MONGODB_URI / REDIS_URL point
# elsewhere), Mailpit (unless SMTP_URL does), then web, worker, beat and runner from the Procfile
# through honcho. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f .env ] && { set -a; . ./.env; set +a; }
started=()
cleanup() { for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

# An external MONGODB_URI or REDIS_URL means that service is not started here. DB_ENGINE picks
# the embedded MongoDB-wire server (secantus by default, or ferretdb) and tells the app which.
if [ -z "${MONGODB_URI:-}" ]; then export DB_ENGINE=${DB_ENGINE:-secantus}; fi
mongo_port=27017; redis_port=6379
[ -z "${MONGODB_URI:-}" ] || mongo_port=-
[ -z "${REDIS_URL:-}" ] || redis_port=-
pids=$(scripts/services.sh "$mongo_port" "$redis_port" var/dev)
for pid in $pids; do started+=("$pid"); done
export MONGODB_URI=${MONGODB_URI:-mongodb://127.0.0.1:27017/talent-quotient}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
# Mail: Mailpit catches everything the worker sends and shows it in its web UI.
if [ -z "${SMTP_URL:-}" ]; then
  mkdir -p var/dev/mailpit
  .tools/bin/mailpit --listen 127.0.0.1:${MAILPIT_UI_PORT:-8025} --smtp 127.0.0.1:${MAILPIT_SMTP_PORT:-1025} \
    --database var/dev/mailpit/mailpit.db --disable-version-check >var/dev/mailpit.log 2>&1 &
  started+=($!)
  export SMTP_URL="smtp://127.0.0.1:${MAILPIT_SMTP_PORT:-1025}"
  echo "mail caught by Mailpit: http://127.0.0.1:${MAILPIT_UI_PORT:-8025}"
fi
# One secret for every process (the worker derives the invitation links the web issued); kept
# under var/dev so links and sign-ins survive a restart. Production sets JWT_SECRET.
if [ -z "${JWT_SECRET:-}" ]; then
  [ -s var/dev/jwt-secret ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n=' >var/dev/jwt-secret)
  JWT_SECRET=$(cat var/dev/jwt-secret); export JWT_SECRET
fi
export PATH="$root/.venv/bin:$PATH"
# Metrics: every process (web workers, Celery workers) writes here; GET /metrics adds them up.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$root/var/dev/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR"; mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# The job dashboard: Flower, behind basic auth (a password kept under var/dev unless set).
if [ -z "${FLOWER_PASSWORD:-}" ]; then
  [ -s var/dev/flower-password ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >var/dev/flower-password)
  FLOWER_PASSWORD=$(cat var/dev/flower-password)
fi
# The credentials go through the environment, not argv (`ps` shows argv to every user).
FLOWER_BASIC_AUTH="${FLOWER_USER:-ops}:$FLOWER_PASSWORD" python -m workers.dashboard \
  --address=127.0.0.1 --port="${FLOWER_PORT:-5555}" >var/dev/flower.log 2>&1 &
started+=($!)
echo "job dashboard (Flower): http://127.0.0.1:${FLOWER_PORT:-5555}  user ${FLOWER_USER:-ops}, password in var/dev/flower-password (or FLOWER_PASSWORD)"
echo "metrics: http://${HOST:-127.0.0.1}:${PORT:-3000}/metrics"
echo "web on http://${HOST:-127.0.0.1}:${PORT:-3000}  (Ctrl-C stops everything)"
# -p: honcho hands PORT to the first line (web); the default would be 5000.
.venv/bin/honcho start -f Procfile -p "${PORT:-3000}"
