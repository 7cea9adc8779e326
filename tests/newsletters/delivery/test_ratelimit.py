"""The optional delivery rate: a shared budget of messages per window."""

import pytest
import time_machine

from newsletters.delivery import ratelimit

pytestmark = pytest.mark.django_db


def test_a_rate_becomes_a_window_and_how_many_messages_it_admits():
    assert ratelimit.window_for(20) == (1.0, 20)
    assert ratelimit.window_for(0.5) == (2.0, 1)  # slower than one a second: a longer window


def test_the_database_budget_admits_the_rate_per_window_then_asks_to_wait(settings):
    settings.CELERY_BROKER_URL = "filesystem://"  # no Redis: the budget lives in the database
    with time_machine.travel("2025-07-10 06:00:00.100 +09:00", tick=False) as clock:
        waits = [ratelimit.try_acquire(rate=5) for _ in range(8)]
        clock.shift(1.0)
        next_window = ratelimit.try_acquire(rate=5)

    assert waits[:5] == [0.0] * 5
    assert all(wait > 0 for wait in waits[5:])
    assert next_window == 0.0


def test_no_limit_never_waits(settings):
    settings.DELIVERY_RATE_LIMIT = 0
    with time_machine.travel("2025-07-10 06:00 +09:00", tick=False):
        for _ in range(1000):
            ratelimit.acquire()  # would block forever if it counted
