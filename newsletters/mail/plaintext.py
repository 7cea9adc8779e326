"""Hard-wrapping an email's text part for people reading it in an 80-column terminal or a phone.

wrap_text() wraps every line longer than WIDTH display columns at spaces, counting East Asian
wide characters (Hangul, CJK) as two columns. A URL is never broken: one that does not fit
stands on its own line, however long. List items and indented lines keep their indent on the
lines that follow. Runs of wide characters with no space (rare in Korean, which spaces its
words) are broken between characters, which is where Korean and Chinese text may break.

Why hard-wrapped and not format=flowed: flowed text is reflowed only by a few clients (Apple
Mail, Thunderbird); Gmail, Outlook and most phone apps show its soft breaks as hard ones
anyway, so the simpler form reads the same everywhere. This module holds no state.
"""

import re
import unicodedata

WIDTH = 76
_URL = re.compile(r"https?://|mailto:|%%[A-Z_]+%%")  # a word holding one is never broken
_INDENT = re.compile(r"^(\s*(?:[-*+]\s+|\d{1,3}[.)]\s+|>\s*)?)")


def display_width(text: str) -> int:
    """Columns a terminal gives this text: wide and full-width characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def wrap_text(text: str, width: int = WIDTH) -> str:
    """Every line wrapped to `width` display columns; URLs whole; line endings and blank lines kept."""
    return "\n".join(line for source in text.split("\n") for line in wrap_line(source, width))


def wrap_line(line: str, width: int = WIDTH) -> list[str]:
    """One line as one or more lines of at most `width` columns (a lone URL may be longer)."""
    line = line.rstrip()
    if display_width(line) <= width:
        return [line]
    indent = _INDENT.match(line).group(1)
    hanging = " " * display_width(indent)
    lines: list[str] = []
    current, used, fresh = indent, display_width(indent), True  # fresh: nothing but the indent yet

    for word in line[len(indent) :].split():
        word_width = display_width(word)
        if used + word_width + (0 if fresh else 1) <= width:
            current += word if fresh else " " + word
            used += word_width + (0 if fresh else 1)
            fresh = False
            continue
        if not fresh:
            lines.append(current)
            current, used, fresh = hanging, len(hanging), True
        if used + word_width <= width or _URL.search(word):
            # A URL never breaks: one too long for any line stands alone on its own.
            current, used, fresh = current + word, used + word_width, False
            continue
        for piece in _break_word(word, width - used, width - len(hanging)):
            if not fresh:
                lines.append(current)
                current, used = hanging, len(hanging)
            current, used, fresh = current + piece, used + display_width(piece), False
    if not fresh:
        lines.append(current)
    return lines


def _break_word(word: str, first: int, rest: int) -> list[str]:
    """A word wider than the line, cut between characters into pieces that fit."""
    pieces, piece, piece_width, limit = [], "", 0, max(first, 1)
    for char in word:
        char_width = display_width(char)
        if piece and piece_width + char_width > limit:
            pieces.append(piece)
            piece, piece_width, limit = "", 0, max(rest, 1)
        piece += char
        piece_width += char_width
    if piece:
        pieces.append(piece)
    return pieces
