"""What a reader's email says: subject, text and HTML rendered from templates, CSS inlined.

render_email() turns a template triplet (emails/<name>.subject.txt, .txt, .html) into a
RenderedEmail; render_digest_variant() fills the digest's triplet for one variant: the
entries a group of readers gets, in the editor's order, in their language, with or without
abstracts. The HTML shows each abstract's first sentence or two and links to the paper's page
for the rest: on a phone the commentary is what readers scroll for. Per-reader links
stay as the placeholders below and are filled in by newsletters/mail/messages.py when each
message is built. This module takes plain values (EmailEntry; newsletters/mail/content.py
builds them from the database): it must not touch the database, build MIME or send.
"""

import datetime
import re
from dataclasses import dataclass

import css_inline
from django.template.loader import render_to_string

from newsletters.mail.plaintext import wrap_text
from newsletters.rendering import render_markdown

# Plain ASCII tokens: lxml keeps "%" in href attributes (it escapes spaces, braces and
# non-ASCII), and neither quoted-printable nor base64 can split a token that is substituted
# before encoding. tests/newsletters/test_rendering_email.py holds them to that.
UNSUBSCRIBE_URL_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
PREFERENCES_URL_PLACEHOLDER = "%%PREFERENCES_URL%%"

# Gmail clips a message whose HTML passes 102 KB and hides what follows, the unsubscribe
# link included. Aim lower, leaving room for the per-reader URLs that replace the placeholders.
GMAIL_CLIP_BYTES = 102_400
HTML_BUDGET_BYTES = GMAIL_CLIP_BYTES - 4_096
# The HTML shows an abstract's lead: its first sentence, and the second when both fit in this
# many characters. Smaller budgets are tried in turn until the HTML fits under Gmail's limit;
# 0 leaves only the link to the archive. Commentary, the editor's own words, is never cut.
ABSTRACT_LIMITS: tuple[int, ...] = (300, 160, 0)
# A full stop ends a sentence unless it ends one of these words (lower-cased) or a lone initial.
_ABBREVIATIONS = frozenset(
    "e.g. i.e. al. etc. vs. cf. fig. figs. eq. eqs. sec. no. approx. resp. ref. refs. dr. prof.".split()
)
_SENTENCE_END = re.compile(r"[.!?][\"”')\]]*\s+(?=[\"“'(\[]?[A-Z0-9])")
SUBJECT_MAX_CHARS = 150

LANGUAGES = ("ko", "en", "both")
_WEEKDAYS_KO = "월화수목금토일"
LABELS = {
    "ko": {
        "papers": "오늘의 논문 {n}편",
        "abstract": "초록",
        "read_more": "전체 초록 읽기",
        "abstract_on_archive": "초록은 아카이브에서 읽을 수 있습니다",
        "paper": "논문",
        "archive": "아카이브",
        "commentary_ko": "한국어",
        "commentary_en": "English",
        "why": "{site_name} 구독자에게 보내 드리는 메일입니다.",
        "preferences": "구독 설정",
        "unsubscribe": "구독 해지",
        "view_archive": "웹에서 보기",
        "more": "외 {n}편",
    },
    "en": {
        "papers": "{n} papers today",
        "abstract": "Abstract",
        "read_more": "Read the full abstract",
        "abstract_on_archive": "Read the abstract on the archive",
        "paper": "Paper",
        "archive": "Archive",
        "commentary_ko": "한국어",
        "commentary_en": "English",
        "why": "You receive this because you subscribed to {site_name}.",
        "preferences": "Preferences",
        "unsubscribe": "Unsubscribe",
        "view_archive": "View on the web",
        "more": "and {n} more",
    },
}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class EmailEntry:
    """What the digest email shows of one entry, as plain values."""

    title: str
    authors: tuple[str, ...]
    abstract: str
    commentary_ko: str  # markdown, for the text part
    commentary_en: str
    commentary_ko_html: str  # render_markdown() output, for the HTML part
    commentary_en_html: str
    tags: tuple[str, ...]
    paper_url: str
    archive_url: str
    pdf_url: str = ""  # the arXiv PDF, when the arXiv id is known
    hf_url: str = ""  # the Hugging Face paper page, for papers that came from Daily Papers


# Rules that cannot be inlined (@media for dark mode and phones) stay in a <style> block, with
# their !important, without which the inline styles would win. css-inline (Rust) takes about
# 0.5 ms a variant where premailer took 40 ms: a day of 500 variants renders in well under a second.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def inline_css(html: str) -> str:
    """Move <style> rules onto elements. Never fetches remote stylesheets."""
    return _INLINER.inline(html)


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return " ".join(text.split())


TEST_SUBJECT_PREFIX = "[TEST] "
TEST_BANNER = "TEST SEND / 테스트 발송: readers have not received this email."


def mark_as_test(rendered: RenderedEmail) -> RenderedEmail:
    """The same email with a [TEST] subject and a banner line atop the text and HTML bodies."""
    banner_html = (
        '<div style="background:#fff3cd;color:#664d03;padding:8px 12px;font:bold 14px sans-serif;'
        f'border-bottom:2px solid #ffc107" class="test-banner">{TEST_BANNER}</div>'
    )
    html, count = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + banner_html, rendered.html, count=1)
    if not count:
        html = banner_html + html
    return RenderedEmail(
        subject=TEST_SUBJECT_PREFIX + rendered.subject,
        text=f"*** {TEST_BANNER} ***\n\n{rendered.text}",
        html=html,
    )


def render_email(name: str, context: dict) -> RenderedEmail:
    """Render emails/<name>.subject.txt, .txt and .html; the HTML with its CSS inlined."""
    subject = one_line(render_to_string(f"emails/{name}.subject.txt", context))
    text = wrap_text(render_to_string(f"emails/{name}.txt", context).strip("\n")) + "\n"
    html = inline_css(render_to_string(f"emails/{name}.html", context))
    return RenderedEmail(subject=subject, text=text, html=html)


def format_date(date: datetime.date, language: str, *, short: bool = False) -> str:
    """The day as the reader reads it: 2025년 7월 10일 (목) or Thursday, July 10, 2025."""
    if language == "en":
        if short:
            return f"{date:%b} {date.day}"
        return f"{date:%A}, {date:%B} {date.day}, {date.year}"
    if short:
        return f"{date.month}월 {date.day}일"
    return f"{date.year}년 {date.month}월 {date.day}일 ({_WEEKDAYS_KO[date.weekday()]})"


def split_sentences(text: str) -> list[str]:
    """English prose cut into sentences: at . ! ? before a capital or a digit, not after an abbreviation."""
    text = one_line(text)
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        last_word = text[start : match.start() + 1].rsplit(" ", 1)[-1].lower().lstrip("([\"“'")
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    if start < len(text):
        sentences.append(text[start:].strip())
    return sentences


def abstract_lead(text: str, limit: int) -> str:
    """The first sentence, and the second if both fit in limit characters; cut at a word if one is longer."""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    lead = sentences[0]
    if len(sentences) > 1 and len(lead) + 1 + len(sentences[1]) <= limit:
        lead += " " + sentences[1]
    return truncate(lead, limit)


def truncate(text: str, limit: int) -> str:
    """Cut text to at most limit characters at a word boundary, ending with an ellipsis."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    if " " in cut and not text[len(cut)].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def digest_subject(*, site_name: str, date: datetime.date, titles: list[str], language: str) -> str:
    """[Site] 7월 10일: First title 외 4편 — the first paper's title cut to fit.

    A "both" reader's subject carries both languages: [Site] 7월 10일 · Jul 10: Title 외 4편 · and 4 more.
    """
    labels = LABELS["en" if language == "en" else "ko"]
    day = format_date(date, "en" if language == "en" else "ko", short=True)
    if language == "both":
        day += " · " + format_date(date, "en", short=True)
    head = f"[{one_line(site_name)}] {day}: "
    tail = ""
    if len(titles) > 1:
        tail = " " + labels["more"].format(n=len(titles) - 1)
        if language == "both":
            tail += " · " + LABELS["en"]["more"].format(n=len(titles) - 1)
    room = SUBJECT_MAX_CHARS - len(head) - len(tail)
    return head + truncate(titles[0] if titles else "", max(room, 20)) + tail


def render_digest_variant(
    *,
    date: datetime.date,
    entries: list[EmailEntry],
    language: str,
    site_name: str,
    site_url: str,
    web_url: str = "",
    intro_ko: str = "",
    intro_en: str = "",
    include_abstracts: bool = True,
) -> RenderedEmail:
    """The day's email for one variant: each abstract's lead in the HTML (whole in the text part),
    or no abstracts at all for readers who turned them off."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    if not entries:
        raise ValueError("a digest email needs at least one entry")
    label_language = "en" if language == "en" else "ko"
    labels = LABELS[label_language]
    intro_languages = {"ko": ["ko"], "en": ["en"], "both": ["ko", "en"]}[language]
    intros = [
        (lang, text)
        for lang, text in zip(["ko", "en"], [intro_ko, intro_en], strict=True)
        if lang in intro_languages and text
    ]
    intro = "\n\n".join(text for _, text in intros)
    site_url = site_url.rstrip("/")
    context = {
        "language": label_language,
        "both": language == "both",
        "labels": labels,
        "site_name": site_name,
        "site_url": site_url,
        "web_url": web_url or f"{site_url}/",
        "date_long": format_date(date, label_language),
        "papers_label": labels["papers"].format(n=len(entries)),
        "why_label": labels["why"].format(site_name=site_name),
        "subject": digest_subject(
            site_name=site_name, date=date, titles=[e.title for e in entries], language=language
        ),
        "intro": intro,
        "intros_html": [(lang, render_markdown(text)) for lang, text in intros],
        "unsubscribe_url": UNSUBSCRIBE_URL_PLACEHOLDER,
        "preferences_url": PREFERENCES_URL_PLACEHOLDER,
    }
    for limit in ABSTRACT_LIMITS:
        context["entries"] = [
            _entry_context(entry, language, limit if include_abstracts else None) for entry in entries
        ]
        # The inbox shows this line under the subject: the first entry's commentary.
        first = context["entries"][0]
        context["preheader"] = truncate(first["commentary_ko"] or first["commentary_en"], 140)
        context["preheader_language"] = "ko" if first["commentary_ko"] else "en"
        rendered = render_email("digest", context)
        if len(rendered.html.encode()) <= HTML_BUDGET_BYTES:
            break
    return rendered


def _entry_context(entry: EmailEntry, language: str, abstract_limit: int | None) -> dict:
    """One entry's template values; abstract_limit None leaves the abstract out (the reader's choice)."""
    ko, en = entry.commentary_ko_html.strip(), entry.commentary_en_html.strip()
    # A reader of one language still gets the other commentary when theirs is missing.
    show_ko = bool(ko) and (language != "en" or not en)
    show_en = bool(en) and (language != "ko" or not ko)
    abstract = one_line(entry.abstract) if abstract_limit is not None else ""
    short = abstract_lead(abstract, abstract_limit) if abstract_limit else ""
    return {
        "entry": entry,
        "commentary_ko": entry.commentary_ko.strip() if show_ko else "",
        "commentary_en": entry.commentary_en.strip() if show_en else "",
        "commentary_ko_html": ko if show_ko else "",
        "commentary_en_html": en if show_en else "",
        "abstract": abstract,
        "abstract_short": short,
        "abstract_cut": short != abstract,
    }
