"""Hostile markdown: inputs that break naive renderers, and a timer to run them (issue 13).

The tests (tests/newsletters/test_render_markdown.py) and `manage.py bench_markdown` share
this corpus. It imports nothing from the project, so it can also time another checkout's
render_markdown (an older commit, another worktree), each input in a fresh process with a
timeout:

    cd /path/to/other/checkout && python /path/to/this/file.py --timeout 30
"""

import argparse
import subprocess
import sys

SIZE = 64 * 1024  # the largest input render_markdown promises to parse quickly


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def hostile_corpus(size: int = SIZE) -> dict[str, str]:
    """Name -> text; each about `size` characters unless the attack has a size of its own."""
    half = size // 2
    return {
        "'- ' x 512 (1 KB)": "- " * 512 + "x",
        "'- ' x N": _fill("- ", size - 1) + "x",
        "'> ' x N": _fill("> ", size - 1) + "x",
        "'>' x N": _fill(">", size - 1) + "x",
        "'1. ' x N": _fill("1. ", size - 1) + "x",
        "indented list ladder": "".join(" " * (2 * i % 200) + "- x\n" for i in range(size // 60)),
        "'*' x N": _fill("*"),
        "'_' x N": _fill("_"),
        "'*a' x N": _fill("*a"),
        "'**a' x N": _fill("**a"),
        "'*a **a ' x N": _fill("*a **a "),
        "'a_' x N": _fill("a_"),
        "'*' x N/2 + a + '*' x N/2": "*" * half + "a" + "*" * half,
        "'[' x N": _fill("["),
        "'[' x 8000 + x + '](' x 8000": "[" * 8000 + "x" + "](" * 8000,
        "'[a](' x N": _fill("[a]("),
        "'[a]' x N + refs": _fill("[a]", half) + "\n\n" + _fill("[a]: http://x.example\n", half),
        "'](' x N": _fill("]("),
        "'![' x N": _fill("!["),
        "'`' x N": _fill("`"),
        "backtick runs 1..N": " ".join("`" * k for k in range(1, 360)),
        "'a`' x N": _fill("a`"),
        "'&#65;' x N": _fill("&#65;"),
        "'&#' x N": _fill("&#"),
        "'&' + digits": "&#" + _fill("9", size - 3) + ";",
        "'<div>' x N": _fill("<div>"),
        "'<a>' x N": _fill("<a>"),
        "'<div>' x N, line each": _fill("<div>\n"),
        "'<' x N": _fill("<"),
        "'<!--' x N": _fill("<!--"),
        "'<a href=' x N": _fill("<a href="),
        "20,000-line paragraph": "ab\n" * 20000,
        "'a\\n' x N (lines)": _fill("a\n"),
        "'a  \\n' x N (hard breaks)": _fill("a  \n"),
        "'# ' x N": _fill("# "),
        "'|' x N": _fill("|"),
        "'\\\\' x N": _fill("\\"),
        "'a://' x N": _fill("a://"),
        "letters + '_://' x N": "a" * half + _fill("_://", half),
        "'http://' x N": _fill("http://"),
        "long URL": "https://a.example/" + _fill("a", size - 20),
        "URL + '(' x N": "https://a.example/" + _fill("(", size - 20),
        "URL + '가' x N": "https://a.example/x" + _fill("가", size - 20),
        "'a@' x N": _fill("a@"),
        "'www.' x N": _fill("www."),
        "'x@x.com ' x N": _fill("x@x.com "),
        "'https://a.example ' x N": _fill("https://a.example "),
        "'~~' x N": _fill("~~"),
        "'\\t' x N + x": _fill("\t", size - 1) + "x",
        "' ' x N + x": _fill(" ", size - 1) + "x",
        "'\\n' x N": _fill("\n"),
        "'\\x00' x N": _fill("\x00"),
        "'-' x N (hr)": _fill("-"),
        "'=\\n' x N (setext)": _fill("a\n=\n"),
        "code fence x N": _fill("```\n"),
        "mixed '> - 1. ' ladder": _fill("> - 1. "),
    }


def over_the_cap(size: int = SIZE) -> dict[str, str]:
    """Inputs past the parse cap: they must come out as text, not be dropped."""
    return {
        "'- ' x 2N": _fill("- ", 2 * size),
        "'[' x 4N": _fill("[", 4 * size),
    }


_CHILD = """
import sys, time
text = sys.stdin.read()
from newsletters.rendering import render_markdown
start = time.perf_counter()
try:
    render_markdown(text)
except BaseException as error:
    print(f"{time.perf_counter() - start:.3f} {type(error).__name__}")
else:
    print(f"{time.perf_counter() - start:.3f}")
"""


def time_in_subprocess(text: str, timeout: float, cwd: str | None = None) -> str:
    """Seconds one render_markdown(text) takes in a fresh interpreter (imports from cwd)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            encoding="utf-8",
        )
    except subprocess.TimeoutExpired:
        return f">{timeout:g} s"
    if done.returncode != 0:
        return "crashed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:60]
    seconds, *error = done.stdout.split()
    return f"{float(seconds):.3f} s" + (f" ({error[0]})" if error else "")


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, tuple("-" * width for width in widths), *rows]
    return "\n".join(
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"
        for line in lines
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per input")
    parser.add_argument("--only", help="only inputs whose name contains this")
    args = parser.parse_args(argv)
    corpus = {**hostile_corpus(), **over_the_cap()}
    rows = []
    for name, text in corpus.items():
        if args.only and args.only not in name:
            continue
        rows.append((name, str(len(text.encode())), time_in_subprocess(text, args.timeout)))
        print(table(rows[-1:], ("input", "bytes", "seconds")).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(rows, ("input", "bytes", "seconds")))


if __name__ == "__main__":
    main()
