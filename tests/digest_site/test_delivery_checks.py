"""Delivery settings that cannot work together are refused at start, with the reason."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from digest_site.checks import check_delivery_timing


def ids(settings) -> set[str]:
    return {error.id for error in check_delivery_timing()}


def test_the_defaults_pass(settings):
    assert ids(settings) == set()


def test_a_lease_shorter_than_three_smtp_timeouts_is_refused(settings):
    settings.EMAIL_TIMEOUT = 30
    settings.DELIVERY_LEASE_SECONDS = 60
    [error] = [e for e in check_delivery_timing() if e.id == "digest_site.E201"]
    assert "below 3 × EMAIL_TIMEOUT" in error.msg and "90" in error.hint


def test_a_batch_that_would_outlive_the_lease_is_refused(settings):
    settings.DELIVERY_LEASE_SECONDS = 100
    settings.DELIVERY_BATCH_SECONDS = 80
    settings.WORKER_STOP_GRACE_SECONDS = 600
    assert ids(settings) == {"digest_site.E202"}


def test_a_batch_that_cannot_stop_within_the_stop_grace_period_is_refused(settings):
    settings.DELIVERY_BATCH_SECONDS = 60
    assert "digest_site.E203" in ids(settings)
    settings.DELIVERY_BATCH_SECONDS = 20
    settings.WORKER_STOP_GRACE_SECONDS = 30
    assert ids(settings) == {"digest_site.E203"}


def test_a_heartbeat_slower_than_a_third_of_the_lease_is_refused(settings):
    settings.DELIVERY_HEARTBEAT_SECONDS = 120
    assert ids(settings) == {"digest_site.E204"}
    settings.DELIVERY_HEARTBEAT_SECONDS = 0
    assert ids(settings) == {"digest_site.E204"}


def test_a_redis_visibility_timeout_below_the_lease_is_refused(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 200}
    assert ids(settings) == {"digest_site.E205"}


def test_manage_py_check_refuses_them_even_with_debug_on(settings):
    settings.DEBUG = True
    settings.DELIVERY_LEASE_SECONDS = 30
    with pytest.raises(SystemCheckError, match="E201"):
        call_command("check")
