"""render_markdown: the editor's commentary as readers see it, and nothing hostile getting through."""

import html as html_lib
import re
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from newsletters import rendering
from newsletters.management.markdown_corpus import hostile_corpus, over_the_cap
from newsletters.rendering import render_markdown
from tests.conftest import digest_text_files

SAFE_SCHEMES = {"http", "https", "mailto"}
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "background",
    "poster",
    "xlink:href",
    "content",
}
FORBIDDEN_TAGS = {
    "script", "style", "img", "svg", "iframe", "frame", "form", "input", "button", "object", "embed",
    "meta", "base", "link", "math", "video", "audio", "textarea", "select",
}  # fmt: skip


class ParsedHTML(HTMLParser):
    """Tags, attributes and text of an HTML fragment, as a browser's tokenizer would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.links: list[tuple[str, str]] = []
        self._open_link: list[str] | None = None
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag == "a":
            self._open_link = [dict(attrs).get("href") or "", ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open_link is not None:
            self.links.append((self._open_link[0], self._open_link[1]))
            self._open_link = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._open_link is not None:
            self._open_link[1] += data


def url_scheme(url: str) -> str:
    """The scheme a browser would use: it ignores whitespace and control characters inside it."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", url)
    return urlsplit(cleaned).scheme.lower()


def sample_commentary_lines() -> list[str]:
    """Every line of every known digest file that holds a URL."""
    return [
        line
        for path in digest_text_files()
        for line in path.read_text(encoding="utf-8").splitlines()
        if "http://" in line or "https://" in line
    ]


def test_bare_urls_in_parentheses_become_links_without_the_closing_punctuation():
    html = render_markdown(
        "엔트로피가 높은 토큰이 보통 분기점이므로 추가적인 롤아웃을 생성하는 연구군요 "
        "(https://arxiv.org/abs/2506.01939).\n\n"
        "Many studies on continuous thought (https://arxiv.org/abs/2505.12629, "
        "https://arxiv.org/abs/2505.10518). Code is at https://github.com/zhyang2226/AR-Lopti."
    )

    assert ParsedHTML(html).links == [
        ("https://arxiv.org/abs/2506.01939", "https://arxiv.org/abs/2506.01939"),
        ("https://arxiv.org/abs/2505.12629", "https://arxiv.org/abs/2505.12629"),
        ("https://arxiv.org/abs/2505.10518", "https://arxiv.org/abs/2505.10518"),
        ("https://github.com/zhyang2226/AR-Lopti", "https://github.com/zhyang2226/AR-Lopti"),
    ]
    assert "</a>)." in html
    assert "</a>, <a" in html


@pytest.mark.parametrize(
    ("text", "href", "after"),
    [
        (
            "Guidance(https://arxiv.org/abs/2207.12598)로 이어집니다.",
            "https://arxiv.org/abs/2207.12598",
            ")로 이어집니다.",
        ),
        ("https://arxiv.org/abs/2207.12598에서 보듯", "https://arxiv.org/abs/2207.12598", "에서 보듯"),
        ("(https://a.example/x), (https://a.example/y)을 보세요", "https://a.example/y", ")을 보세요"),
        ("(https://en.wikipedia.org/wiki/Foo_(bar))를", "https://en.wikipedia.org/wiki/Foo_(bar)", ")를"),
        ("https://ko.wikipedia.org/wiki/강화_학습 참고", "https://ko.wikipedia.org/wiki/강화_학습", " 참고"),
    ],
)
def test_korean_particles_glued_to_a_url_stay_out_of_the_link(text, href, after):
    html = render_markdown(text)

    assert ParsedHTML(html).links[-1] == (href, href)
    assert html.endswith(f"</a>{after}</p>")


@pytest.mark.parametrize("line", sample_commentary_lines())
def test_every_url_in_the_sample_digests_links_to_itself(line):
    expected = [url.rstrip(".") for url in re.findall(r"https?://[^\s,)]+", line)]

    links = ParsedHTML(render_markdown(line)).links

    assert [href for href, _ in links] == expected
    assert all(text == href for href, text in links)


def test_blank_lines_make_paragraphs_and_single_newlines_stay_in_one():
    html = render_markdown("First paragraph,\nstill the first.\n\nSecond paragraph.")

    assert html.count("<p>") == 2
    assert "<p>First paragraph,\nstill the first.</p>" in html
    assert "<p>Second paragraph.</p>" in html


def test_lists_render_as_lists():
    html = render_markdown("Two ideas:\n\n- entropy\n- rollouts\n\n1. first\n2. second")

    assert "<ul>\n<li>entropy</li>\n<li>rollouts</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html


def test_emphasis_and_code_render():
    html = render_markdown("*entropy* and **rollouts** with `top_k`")

    assert html == "<p><em>entropy</em> and <strong>rollouts</strong> with <code>top_k</code></p>"


def test_hangul_passes_through_untouched():
    text = "추론 RL이 보상의 노이즈에 강하다는 결과가 하나 더 나왔군요. KV 캐시를 도입한 연구."

    assert render_markdown(text) == f"<p>{text}</p>"


@pytest.mark.parametrize(
    ("text", "expected_href"),
    [
        ("[paper](https://arxiv.org/abs/2506.01939)", "https://arxiv.org/abs/2506.01939"),
        ("[code](http://example.com/a?b=1&c=2)", "http://example.com/a?b=1&c=2"),
        ("<https://arxiv.org/abs/2506.01939>", "https://arxiv.org/abs/2506.01939"),
        ("[write](mailto:editor@example.com)", "mailto:editor@example.com"),
        ("<mailto:editor@example.com>", "mailto:editor@example.com"),
    ],
)
def test_http_https_and_mailto_links_survive(text, expected_href):
    assert [href for href, _ in ParsedHTML(render_markdown(text)).links] == [expected_href]


HOSTILE = {
    "script": "<script>alert(1)</script>",
    "script-mixed-case": "<ScRiPt>alert(1)</sCrIpT>",
    "script-unclosed": "<script>alert(1)",
    "script-in-paragraph": "Nice paper <script src=https://evil.example/x.js></script> indeed.",
    "style": "<style>body { background: url(javascript:alert(1)) }</style>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "img-onerror-unclosed": "<img src=x onerror=alert(1)",
    "svg-onload": "<svg onload=alert(1)>",
    "svg-nested-script": "<svg><script>alert(1)</script></svg>",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="<script>alert(1)</script>">',
    "html-a-javascript": '<a href="javascript:alert(1)">x</a>',
    "md-javascript": "[x](javascript:alert(1))",
    "md-javascript-mixed-case": "[x](JaVaScRiPt:alert(1))",
    "md-javascript-tab-entity": "[x](java&#09;script:alert(1))",
    "md-javascript-decimal-entity": "[x](&#106;avascript:alert(1))",
    "md-javascript-hex-entity": "[x](&#x6A;avascript:alert(1))",
    "md-javascript-colon-entity": "[x](javascript&colon;alert(1))",
    "md-javascript-leading-spaces": "[x](  javascript:alert(1))",
    "md-javascript-title": '[x](javascript:alert(1) "title")',
    "md-image-javascript": "![x](javascript:alert(1))",
    "html-a-newline-entity": '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    "html-a-padded-entities": (
        '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105'
        '&#0000112&#0000116&#0000058alert(1)">x</a>'
    ),
    "html-a-leading-spaces": "<a href='  javascript:alert(1)'>x</a>",
    "md-data-uri": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "html-a-data-uri": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "html-a-vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "md-vbscript": "[x](VBScript:msgbox(1))",
    "reference-link": "[x][1]\n\n[1]: javascript:alert(1)",
    "reference-link-titled": '[x][evil]\n\n[evil]: javascript:alert(1) "Title"',
    "autolink-javascript": "<javascript:alert(1)>",
    "autolink-data": "<data:text/html,alert(1)>",
    "comment-hiding-script": "<!-- --><script>alert(1)</script><!-- -->",
    "comment-open-script": "<!--<script>-->alert(1)<!--</script>-->",
    "comment-breakout": "<!-- --!><img src=x onerror=alert(1)> -->",
    "comment-conditional": "<!--[if IE]><script>alert(1)</script><![endif]-->",
    "form": (
        '<form action="https://evil.example"><input name=p>'
        '<button formaction="javascript:alert(1)">go</button></form>'
    ),
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="javascript:alert(1)">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "base-href": '<base href="javascript:alert(1)//">',
    "link-stylesheet": '<link rel=stylesheet href="https://evil.example/x.css">',
    "style-attribute": '<p style="background:url(javascript:alert(1))">x</p>',
    "onclick-on-allowed-tag": '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "onmouseover-on-em": "<em onmouseover=alert(1)>x</em>",
    "unclosed-tag-attribute": '<a href="https://ok.example" onmouseover="alert(1)',
    "unclosed-em": "<em>never closed <strong>nor this",
    "textarea-breakout": "<textarea></textarea><script>alert(1)</script>",
    "math-mglyph": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "noscript-breakout": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "markdown-in-html-attr": '<a href="https://ok.example" title="x" onfocus=alert(1) autofocus>x</a>',
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_neutralised(text):
    html = render_markdown(text)
    parsed = ParsedHTML(html)

    lowered = html.lower()
    assert "<script" not in lowered
    assert "<style" not in lowered
    assert not re.search(r"<[^>]*\son\w+\s*=", lowered)
    assert not FORBIDDEN_TAGS & set(parsed.tags)
    for tag, name, value in parsed.attributes:
        assert not name.startswith("on"), (tag, name)
        assert name != "style", (tag, name)
        if name in URL_ATTRIBUTES:
            assert url_scheme(value) in SAFE_SCHEMES, (tag, name, value)
            assert not re.search(r"(javascript|vbscript|data)\s*:", re.sub(r"\s", "", value.lower()))


# Issue 13: a renderer that cannot be broken. Every input of the corpus (newsletters/markdown_corpus.py,
# also timed by `manage.py bench_markdown`) once raised, hung a worker or poisoned the parser.
CORPUS = {**hostile_corpus(), **over_the_cap()}
# What a reader sees on a normal day: paragraphs, lists, emphasis, links, Hangul glued onto a URL.
NORMAL = (
    "엔트로피가 높은 토큰이 분기점이라는 연구(https://arxiv.org/abs/2506.01939)로 이어집니다.\n\n"
    "Two ideas:\n\n- *entropy*\n- **rollouts** with `top_k`\n\n1. first\n2. [second](https://example.com/a?b=1&c=2)\n\n"
    "> A quote.\n\nCode is at https://github.com/zhyang2226/AR-Lopti."
)
# Generous: each input takes well under 0.3 s here; a loaded CI machine may be several times slower.
SECONDS_PER_INPUT = 2.0


@pytest.fixture(scope="module")
def normal_html_from_a_fresh_process() -> str:
    """NORMAL rendered by an interpreter that has rendered nothing else."""
    root = Path(rendering.__file__).resolve().parent.parent
    script = (
        "import sys\nfrom newsletters.rendering import render_markdown\n"
        "sys.stdout.write(render_markdown(sys.stdin.read()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=NORMAL, capture_output=True, text=True, encoding="utf-8",
        cwd=root, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


def test_the_normal_text_renders_fully(normal_html_from_a_fresh_process):
    html = normal_html_from_a_fresh_process

    assert html.count("<p>") == 4 and html.count("<li>") == 4 and "<blockquote>" in html
    assert "<em>entropy</em>" in html and "<code>top_k</code>" in html
    assert [href for href, _ in ParsedHTML(html).links] == [
        "https://arxiv.org/abs/2506.01939",
        "https://example.com/a?b=1&c=2",
        "https://github.com/zhyang2226/AR-Lopti",
    ]


@pytest.mark.parametrize("name", CORPUS.keys())
def test_hostile_input_renders_quickly_and_leaves_nothing_behind(name, normal_html_from_a_fresh_process):
    rendering._cache.clear()  # time the render itself, not a cache hit
    start = time.perf_counter()
    html = render_markdown(CORPUS[name])
    seconds = time.perf_counter() - start

    assert isinstance(html, str) and (html or not CORPUS[name].strip())
    assert seconds < SECONDS_PER_INPUT, f"{name}: {seconds:.2f} s"
    assert "<script" not in html.lower()
    rendering._cache.clear()
    assert render_markdown(NORMAL) == normal_html_from_a_fresh_process


def test_input_over_the_size_cap_is_shown_as_escaped_text_not_dropped():
    text = "<b>first</b> " + "x" * rendering.MAX_MARKDOWN_CHARS + "\n\n*second* paragraph"

    html = render_markdown(text)

    assert html.startswith("<p>&lt;b&gt;first&lt;/b&gt; xxx")
    assert html.endswith("<p>*second* paragraph</p>")
    assert html.count("x") >= rendering.MAX_MARKDOWN_CHARS


@pytest.mark.parametrize("prefix", ["> ", "- ", "1. ", "<div>", "*"])
def test_nesting_past_the_cap_is_shown_as_escaped_text_not_dropped(prefix):
    depth = rendering.MAX_DEPTH + 10
    text = prefix * depth + "the deep end" + ("*" * depth if prefix == "*" else "")

    html = render_markdown(text)

    assert "the deep end" in html
    assert html.count("<") - html.count("</") <= rendering.MAX_DEPTH + 1


def test_nesting_under_the_cap_still_renders():
    html = render_markdown("> - quoted list\n>   - nested item with *emphasis*")

    assert "<blockquote>" in html and html.count("<ul>") == 2 and "<em>emphasis</em>" in html


def test_a_failed_render_falls_back_to_escaped_text_and_is_not_cached(monkeypatch):
    text = "*fails* <b>once</b> " + uuid.uuid4().hex

    def broken(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(rendering, "markdown_to_html_with_extensions", broken)
    assert render_markdown(text) == f"<p>{html_lib.escape(text)}</p>"
    with pytest.raises(rendering.RenderFailed):
        rendering.render_markdown_strict(text)
    monkeypatch.undo()

    assert render_markdown(text).startswith("<p><em>fails</em> <b>once</b>")


def test_the_render_cache_is_bounded_by_size_not_count():
    cache = rendering._SizeBoundedCache(max_chars=1000)
    for n in range(200):
        cache.set(f"text {n:03d}", "h" * 30)
        assert cache.chars <= 1000
    assert 0 < len(cache) < 200
    assert cache.get("text 199") == "h" * 30 and cache.get("text 000") is None

    cache.set("huge", "h" * 500)  # over a sixteenth of the bound: not worth evicting everything for
    assert cache.get("huge") is None and cache.chars <= 1000


def test_bench_markdown_prints_the_corpus_table():
    out = StringIO()
    call_command("bench_markdown", only="(1 KB)", timeout=60, stdout=out)

    row = out.getvalue().splitlines()[-1]
    assert row.startswith("| '- ' x 512 (1 KB)") and re.search(r"\| \d+\.\d{3} s \|$", row), row
