"""An optional send rate (messages per second) that holds across every worker together.

Counted in fixed windows: in Redis (INCR on a key per window) when the Celery broker is Redis,
otherwise in a database row through subscribers/ratelimit.py's conditional updates. A worker
over the limit waits for the next window; nothing is dropped.
"""

import datetime
import functools
import math
import time

from django.conf import settings

from subscribers import ratelimit as db_ratelimit

_KEY = "digest:delivery-rate"


def window_for(rate: float) -> tuple[float, int]:
    """The window in seconds and how many messages it admits, for a rate per second."""
    window = max(1.0, 1.0 / rate)
    return window, max(1, round(rate * window))


@functools.cache
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)


def _redis_url() -> str:
    url = settings.CELERY_BROKER_URL
    return url if url.startswith(("redis://", "rediss://")) else ""


def try_acquire(*, rate: float, now: float | None = None) -> float:
    """Take one message from the shared budget: 0 when admitted, else seconds to wait first."""
    window, limit = window_for(rate)
    now = time.time() if now is None else now
    slot = math.floor(now / window)
    wait = (slot + 1) * window - now
    if url := _redis_url():
        key = f"{_KEY}:{slot}"
        pipe = _redis(url).pipeline()
        pipe.incr(key)
        pipe.expire(key, math.ceil(window * 2))
        count, _ = pipe.execute()
        return 0.0 if count <= limit else wait
    admitted = db_ratelimit.hit(
        "delivery-rate", "all", limit=limit, window=datetime.timedelta(seconds=window)
    )
    return 0.0 if admitted else min(wait, 0.05)


def acquire(*, rate: float | None = None) -> None:
    """Block until one more message fits under DELIVERY_RATE_LIMIT (no limit when 0)."""
    rate = settings.DELIVERY_RATE_LIMIT if rate is None else rate
    if rate <= 0:
        return
    while (wait := try_acquire(rate=rate)) > 0:
        time.sleep(wait)
