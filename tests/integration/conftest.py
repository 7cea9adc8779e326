"""The integration tier's harness, shared: worker subprocesses, the Redis broker, PostgreSQL and the
SMTP sink are defined in test_delivery_workers.py and offered here to every module of the tier."""

from tests.integration.test_delivery_workers import (  # noqa: F401 - fixtures, found by name
    broker_url,
    postgres,
    smtp,
    worker_env,
    workers,
)
