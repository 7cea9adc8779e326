"""Import digest text files, one day per file, so an editor can write a whole day offline.

Each file is imported on its own: a bad file is reported as FILE:LINE: message and leaves no
trace, the others still go in, and the exit status says whether anything failed. A day readers
have (scheduled or sent) is changed only with --force; --dry-run prints every change first.
Only regular files are read, and at most IMPORT_MAX_BYTES of each (not /dev/zero, not a FIFO).
"""

from django.core.management.base import BaseCommand, CommandError

from newsletters.authoring import history
from newsletters.authoring.importing import (
    DigestFileError,
    DigestLockedError,
    DigestProtectedError,
    StaleImportError,
    import_digest_text,
    read_digest_file,
)
from newsletters.authoring.textformat import DigestFormatError
from newsletters.tasks import find_missing_arxiv_ids_after_commit


class Command(BaseCommand):
    help = "Import digest text files (one day each), creating or updating each day's digest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="digest text file(s)")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print every change it would make; store nothing",
        )
        parser.add_argument(
            "--force", action="store_true", help="also change a day that is scheduled or was sent to readers"
        )

    def handle(self, *args, files: list[str], dry_run: bool, force: bool, **options) -> None:
        failed = 0
        for name in files:
            try:
                data = read_digest_file(name)
                with history.acting_as(f"import_digest command, OS user {history.os_user()}"):
                    result = import_digest_text(data, filename=name, dry_run=dry_run, force=force)
            except DigestFormatError as exc:
                failed += 1
                self.stderr.write(str(exc))
                continue
            except (
                OSError,
                DigestFileError,
                DigestLockedError,
                DigestProtectedError,
                StaleImportError,
            ) as exc:
                failed += 1
                self.stderr.write(f"{name}: {exc}")
                continue
            if not dry_run:
                find_missing_arxiv_ids_after_commit(result.digest.pk)
            self.stdout.write(result.summary())
            if dry_run:
                for line in result.plan.lines():
                    self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) could not be imported; see the lines above")
