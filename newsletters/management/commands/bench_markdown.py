"""Time render_markdown on the hostile corpus: one fresh process per input, with a timeout.

Why: issue 13 (a kilobyte of "- - -" raised RecursionError, 10 KB of "[" took 16 s). The
same corpus is asserted in tests/newsletters/test_render_markdown.py; this prints the table
for notes. To time another checkout (the code before a change), run the corpus module from
that checkout: `cd OTHER && python THIS/newsletters/markdown_corpus.py --timeout 30`.
"""

from django.core.management.base import BaseCommand

from newsletters.management.markdown_corpus import hostile_corpus, over_the_cap, table, time_in_subprocess


class Command(BaseCommand):
    help = "Print a table: hostile markdown input, size in bytes, seconds to render (fresh process each)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per input")
        parser.add_argument("--only", help="only the inputs whose name contains this")

    def handle(self, *args, timeout: float, only: str | None, **options) -> None:
        rows = [
            (name, str(len(text.encode())), time_in_subprocess(text, timeout))
            for name, text in {**hostile_corpus(), **over_the_cap()}.items()
            if not only or only in name
        ]
        self.stdout.write(table(rows, ("input", "bytes", "seconds")))
