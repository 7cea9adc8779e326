"""The embedded broker: Celery's filesystem transport under VAR_DIR, made safe to start and quick.

Its job: create the broker's folders, seed its exchange tables, and give the transport options.
It must not import Django or Celery: settings.py calls it while settings load.
"""

import os
import tempfile
from pathlib import Path

# The exchanges our processes bind: the task queues' (celery), the workers' control and its
# replies (celery.pidbox, reply.celery.pidbox) and the workers' events (celeryev).
EXCHANGES = ("celery", "celery.pidbox", "reply.celery.pidbox", "celeryev")


def seed_exchange_tables(control: Path) -> None:
    """Create each exchange's binding table, empty, unless it exists.

    kombu creates a missing table by opening it for writing and only then locking it, so a
    second process starting in the same instant (make run starts web, two workers and beat at
    once) can read the new, still empty file and die on a JSON error. A table that already
    exists is only ever read and rewritten under its lock, so seeding them first closes that
    window. Each is written aside and linked into place: it appears complete or not at all.
    """
    control.mkdir(parents=True, exist_ok=True)
    for exchange in EXCHANGES:
        table = control / f"{exchange}.exchange"
        if table.exists():
            continue
        fd, draft = tempfile.mkstemp(dir=control, prefix=".seed-")
        try:
            os.write(fd, b"[]")
            os.close(fd)
            try:
                os.link(draft, table)
            except FileExistsError:
                pass  # another process seeded it first: theirs stands
        finally:
            os.unlink(draft)


def transport_options(folder: Path, *, polling_interval: float) -> dict:
    """The filesystem transport's options, the folders created and the tables seeded."""
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    seed_exchange_tables(folder / "control")
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": polling_interval,
    }
