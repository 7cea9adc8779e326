"""A rate limit shared by every web process: a fixed-window counter in a small table.

The default cache is the database cache, whose incr() is a read-then-write and so not
atomic across processes; Redis is not always there. A table row per key, bumped only by
conditional UPDATEs, is atomic on SQLite and PostgreSQL alike and needs no extra service:

1. UPDATE ... SET count = count + 1 WHERE key = k AND window is current AND count < limit
2. else UPDATE ... SET count = 1, window_start = now WHERE key = k AND window has expired
3. else INSERT the row with count = 1 (a unique key: if another process got there first,
   go back to step 1 once).

Each step either wins or changes nothing, so N processes racing are admitted at most
`limit` times per window. Keys are hashed, so client IPs are not stored.
"""

import datetime
import hashlib

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import RateLimitCounter


def _key(scope: str, identity: str) -> str:
    return f"{scope}:{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


def _bump(key: str, *, limit: int, since: datetime.datetime) -> bool:
    return bool(
        RateLimitCounter.objects.filter(key=key, window_start__gt=since, count__lt=limit).update(
            count=F("count") + 1
        )
    )


def hit(scope: str, identity: str, *, limit: int, window: datetime.timedelta) -> bool:
    """Count one request for identity in scope; False when it is over the limit for the window."""
    if limit <= 0:
        return False
    key = _key(scope, identity)
    now = timezone.now()
    since = now - window
    if _bump(key, limit=limit, since=since):
        return True
    if RateLimitCounter.objects.filter(key=key, window_start__lte=since).update(count=1, window_start=now):
        return True
    try:
        with transaction.atomic():
            RateLimitCounter.objects.create(key=key, window_start=now, count=1)
        return True
    except IntegrityError:
        return _bump(key, limit=limit, since=since)


def purge_expired(*, older_than: datetime.timedelta) -> int:
    """Delete counters whose window ended long ago; they hold no state worth keeping."""
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
