"""Send a day's digest now, as the admin's "send now" does, optionally watching it finish.

Why a command: an operator (or a cron job on a host without beat) can send a day from the shell
and see it through; a second trigger for the same day, from here, beat or the admin, does nothing.
It acts as --user, who needs the send permission, like the admin's button: the shell is not a
way around it.
"""

import argparse
import datetime
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from newsletters.delivery import ledger, planning, schedule
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
        parser.add_argument(
            "--user", default="", help="the login acting (needs the “Can send digests” permission)"
        )
        parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)

    def handle(
        self, *args, date: datetime.date, wait: bool, dry_run: bool, user: str, poll: float, **options
    ) -> None:
        digest = Digest.objects.filter(date=date).first()
        if digest is None:
            raise CommandError(f"there is no digest for {date}")
        if dry_run:
            plan = planning.plan_audience(digest=digest)
            self.stdout.write(
                f"{date}: {plan['readers']} readers, {plan['variants']} variants, {plan['skipped']} skipped"
            )
            return
        actor = get_user_model().objects.filter(username=user).first() if user else None
        if actor is None:
            raise CommandError("--user must name a login with the “Can send digests” permission")
        try:
            started = schedule.send_now(digest_id=digest.pk, user=actor)
        except PermissionDenied as exc:
            raise CommandError(f"{user}: {exc}") from None
        except planning.DeliveryError as exc:
            raise CommandError(str(exc)) from None
        digest.refresh_from_db()
        if started:
            if digest.planned_at:
                readers = digest.deliveries.exclude(variant=None).count()
                self.stdout.write(f"{date}: sending to {readers} readers")
            else:
                self.stdout.write(f"{date}: sending; a worker is fixing the audience")
        else:
            self.stdout.write(f"{date}: not started, the digest is {digest.status}")
        if wait and digest.status not in Digest.UNSENT_STATUSES:
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
        summary = (
            f"{digest.date}: {progress['status']}: {counts['sent']} sent, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )
        if progress["status"] in (Digest.Status.PAUSED, Digest.Status.FAILED):
            # A send that stopped or reached nobody is an error for a script or a cron job.
            raise CommandError(f"{summary}; {progress['note'] or 'paused'}")
        self.stdout.write(summary)
