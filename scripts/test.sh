#!/usr/bin/env bash
# Runs every test tier. Tier 1: SQLite, no services (unit + browser). Tier 2: PostgreSQL and
# a Redis broker: the tests that touch a database again on PostgreSQL (tests/conftest.py leaves
# out the rest, which tier 1 ran), plus the integration tier with real Celery workers.
# Tier 3: the compose stack in Docker (tests/deploy/stack, `make deploy-test`).
# On a machine without those services a tier is skipped with a line saying what to start or
# install; under CI=true a missing service is a failure, never a silent skip.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/digest}
REDIS_URL_FOR_TESTS=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

status=0
echo "== tier 1: SQLite (unit and browser tests)"
env -u DATABASE_URL -u CELERY_BROKER_URL "$BIN/pytest" -m "not integration and not deploy_stack" "$@" || status=$?
[ "$status" -eq 5 ] && { echo "tier 1 collected no tests"; status=1; }

missing=$("$BIN/python" scripts/check_services.py "$PG_URL" "$REDIS_URL_FOR_TESTS")
if [ -n "$missing" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: integration tier cannot run in CI: $missing" >&2
    exit 1
  fi
  echo "SKIPPED tier 2 (PostgreSQL + Redis integration tests): $missing"
else
  echo "== tier 2: PostgreSQL + Redis (unit and integration tests)"
  tier2=0
  DATABASE_URL="$PG_URL" TEST_REDIS_URL="$REDIS_URL_FOR_TESTS" REQUIRE_SERVICES=true TEST_TIER=2 \
    "$BIN/pytest" -m "not browser and not deploy_stack" -p no:cacheprovider "$@" || tier2=$?
  [ "$tier2" -eq 5 ] && { echo "tier 2 collected no tests"; tier2=1; }
  [ "$status" -eq 0 ] && status=$tier2
fi

# Tier 3 skips (tests/conftest.py missing_service) without Docker, and fails under CI=true.
echo "== tier 3: the compose stack in Docker (image build, containers, a send)"
tier3=0
"$BIN/pytest" -m deploy_stack -p no:cacheprovider tests/deploy/stack || tier3=$?
[ "$tier3" -eq 5 ] && { echo "tier 3 collected no tests"; tier3=1; }
[ "$status" -eq 0 ] && status=$tier3
exit "$status"
