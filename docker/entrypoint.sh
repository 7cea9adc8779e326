#!/bin/sh
# One image, several roles: `web`, `worker`, `beat`, `migrate`, or any command (e.g. `python manage.py shell`).
set -eu

# Without a DATABASE_URL of its own, use the compose file's postgres service.
if [ -z "${DATABASE_URL:-}" ] && [ -n "${POSTGRES_PASSWORD:-}" ]; then
  export DATABASE_URL="postgres://digest:${POSTGRES_PASSWORD}@${POSTGRES_HOST:-postgres}:5432/digest"
fi

case "${1:-web}" in
  migrate)
    # Run once per deploy (the compose `migrate` service), never by every web or worker replica at once.
    python manage.py migrate --noinput
    exec python manage.py createcachetable
    ;;
  web)
    exec gunicorn digest_site.wsgi:application \
      --bind "${BIND_HOST:-0.0.0.0}:${PORT:-8000}" \
      --workers "${GUNICORN_WORKERS:-3}" \
      --timeout "${GUNICORN_TIMEOUT:-30}" \
      --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
      --access-logfile - --error-logfile -
    ;;
  worker)
    # %h is the container's host name, so every replica (--scale worker=N) gets its own node name.
    # Transactional mail (confirmations) first, then housekeeping, then the digest; a worker
    # given WORKER_QUEUES=transactional keeps sign-ups flowing while batches hold the others.
    exec celery -A digest_site worker \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${WORKER_CONCURRENCY:-4}" \
      --queues "${WORKER_QUEUES:-transactional,celery,digest}" \
      --hostname "${WORKER_NAME:-worker}@%h"
    ;;
  beat)
    # Exactly one beat for the whole deployment: two would start every scheduled task twice.
    exec celery -A digest_site beat --loglevel "${LOG_LEVEL:-INFO}" --schedule "$VAR_DIR/celerybeat-schedule"
    ;;
  *)
    exec "$@"
    ;;
esac
