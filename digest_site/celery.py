"""The Celery application: configured from Django settings (CELERY_* names).

Also: a worker refuses to start with delivery settings that cannot work (the "delivery"
system checks), and waiting_messages() tells the sweep whether the broker still holds tasks.
It must not hold delivery logic: that is newsletters/delivery/.
"""

import logging
import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")

logger = logging.getLogger(__name__)

app = Celery("digest_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_unworkable_delivery_settings(**kwargs) -> None:
    """Stop the worker at start when the delivery settings cannot work (digest_site/checks.py)."""
    from django.core.checks import ERROR, run_checks

    errors = [message for message in run_checks(tags=["delivery"]) if message.level >= ERROR]
    if errors:
        # SystemExit, not an Exception: Celery logs and ignores exceptions raised by receivers.
        raise SystemExit("refusing to start:\n" + "\n".join(str(error) for error in errors))


@worker_process_init.connect
def stop_batches_gracefully(**kwargs) -> None:
    """A pool process keeps one SIGTERM handler all its life: a stop during a batch ends the batch
    after the message on the wire (recorded, the rest given back); outside a batch it stops at once."""
    import signal

    from newsletters.delivery.sending import on_sigterm_in_pool_process

    signal.signal(signal.SIGTERM, on_sigterm_in_pool_process)


def waiting_messages(task_name: str) -> int | None:
    """Messages waiting on the broker in the queue this task is routed to; None if unknown."""
    try:
        queue = app.amqp.router.route({}, task_name)["queue"].name
        with app.connection_for_read() as conn:
            # Not passive: Redis drops an empty list, and a passive declare would call that missing.
            return conn.default_channel.queue_declare(queue=queue).message_count
    except Exception as exc:  # a broker hiccup: the sweep then waits the lease, as before
        logger.warning("could not count the messages waiting on the broker: %s", exc)
        return None
