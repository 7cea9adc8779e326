"""/healthz: is the database answering, is the broker reachable, is any Celery worker alive.

Load balancers and `docker compose` poll it, so it must stay cheap: the database and broker
checks are one round trip each, and the worker ping (which waits up to
HEALTHZ_WORKER_TIMEOUT for replies) is remembered per process for HEALTHZ_WORKER_CACHE_SECONDS.
It never reveals configuration: error details are scrubbed of passwords and keys.
"""

import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from digest_site.celery import app as celery_app

logger = logging.getLogger(__name__)

OK, ERROR, UNKNOWN = "ok", "error", "unknown"

_worker_cache: dict[str, tuple[float, dict]] = {}


def _secrets() -> list[str]:
    """Configured passwords and keys that must never appear in the output."""
    values = [
        settings.SECRET_KEY,
        *settings.SECRET_KEY_FALLBACKS,
        settings.DATABASES["default"].get("PASSWORD") or "",
        settings.EMAIL_HOST_PASSWORD,
        urlsplit(celery_app.conf.broker_url or "").password or "",
    ]
    return [value for value in values if value]


def _describe(exc: Exception) -> str:
    """The exception's class and first line, with any configured secret blanked out."""
    text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text[:300]


def check_database() -> dict:
    """One query on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("healthz: database check failed", exc_info=True)
        return {"status": ERROR, "detail": _describe(exc)}
    return {"status": OK, "detail": connection.vendor}


def broker_transport() -> str:
    """The broker's scheme (redis, filesystem, ...), without host or credentials."""
    return urlsplit(celery_app.conf.broker_url or "").scheme or "unknown"


def check_broker() -> dict:
    """Open (and close) a connection to the Celery broker, trying once."""
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        logger.warning("healthz: broker check failed", exc_info=True)
        return {"status": ERROR, "detail": _describe(exc)}
    return {"status": OK, "detail": broker_transport()}


def check_workers() -> dict:
    """Ping the Celery workers over the broker's remote control; the answer is cached briefly."""
    if broker_transport() == "filesystem":
        # kombu's filesystem transport keeps the binding of every worker that ever ran and files
        # a ping message for each; polled pings would pile up in var/broker. Say so, don't guess.
        return {
            "status": UNKNOWN,
            "detail": "not checked: pings over the filesystem broker pile up for stopped workers",
        }
    cached = _worker_cache.get(celery_app.conf.broker_url)
    if cached and time.monotonic() - cached[0] < settings.HEALTHZ_WORKER_CACHE_SECONDS:
        return cached[1]
    try:
        replies = celery_app.control.ping(timeout=settings.HEALTHZ_WORKER_TIMEOUT)
    except Exception as exc:
        logger.warning("healthz: worker ping failed", exc_info=True)
        result = {"status": ERROR, "detail": _describe(exc)}
    else:
        if replies:
            result = {"status": OK, "detail": f"{len(replies)} worker(s) answered"}
        else:
            result = {
                "status": ERROR,
                "detail": f"no worker answered within {settings.HEALTHZ_WORKER_TIMEOUT:g}s",
            }
    _worker_cache[celery_app.conf.broker_url] = (time.monotonic(), result)
    return result


def check_health() -> dict:
    """Every check by name; the workers are not pinged when the broker is down."""
    checks = {"database": check_database(), "broker": check_broker()}
    if checks["broker"]["status"] == OK:
        checks["workers"] = check_workers()
    else:
        checks["workers"] = {"status": ERROR, "detail": "broker unreachable"}
    return checks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON of every check: 200 when nothing is in error, 503 otherwise."""
    checks = check_health()
    healthy = all(check["status"] != ERROR for check in checks.values())
    return JsonResponse({"status": OK if healthy else ERROR, **checks}, status=200 if healthy else 503)
