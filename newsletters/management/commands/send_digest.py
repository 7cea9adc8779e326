"""Send a day's digest now, as the admin's "send now" does, optionally watching it finish.

Why a command: an operator (or a cron job on a host without beat) can send a day from the shell
and see it through; a second trigger for the same day, from here, beat or the admin, does nothing.
"""

import argparse
import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from newsletters.delivery import ledger, planning
from newsletters.models import Digest


class Command(BaseCommand):
    help = "Send the digest of YYYY-MM-DD to its readers now (through the Celery workers)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("date", type=datetime.date.fromisoformat, help="the digest's day, YYYY-MM-DD")
        parser.add_argument(
            "--wait", action="store_true", help="show a progress bar until the digest is sent"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show the audience and variants; send nothing"
        )
        parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)

    def handle(self, *args, date: datetime.date, wait: bool, dry_run: bool, poll: float, **options) -> None:
        digest = Digest.objects.filter(date=date).first()
        if digest is None:
            raise CommandError(f"there is no digest for {date}")
        if dry_run:
            plan = planning.plan_audience(digest=digest)
            self.stdout.write(
                f"{date}: {plan['readers']} readers, {plan['variants']} variants, {plan['skipped']} skipped"
            )
            return
        try:
            queued = planning.start_send(digest_id=digest.pk)
        except planning.DeliveryError as exc:
            raise CommandError(str(exc)) from None
        if queued:
            self.stdout.write(f"{date}: sending to {queued} readers")
        else:
            digest.refresh_from_db()
            self.stdout.write(f"{date}: not started, the digest is {digest.status}")
        if wait and (queued or digest.status == Digest.Status.SENDING):
            self.wait_until_sent(digest, poll=poll)

    def wait_until_sent(self, digest: Digest, *, poll: float) -> None:
        progress = ledger.delivery_progress(digest)
        with tqdm(total=progress["total"], unit="msg", file=self.stdout, dynamic_ncols=True) as bar:
            while True:
                progress = ledger.delivery_progress(digest)
                counts = progress["counts"]
                bar.n = progress["total"] - progress["remaining"]
                bar.set_postfix(sent=counts["sent"], failed=counts["failed"], skipped=counts["skipped"])
                bar.refresh()
                if progress["status"] != Digest.Status.SENDING:
                    break
                time.sleep(poll)
        self.stdout.write(
            f"{digest.date}: {progress['status']}: {counts['sent']} sent, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )
