"""The admin's input rules: limits with a message, no control characters, capped uploads."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, RequestFactory, encode_multipart
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest_site.uploads import CappedUploadHandler
from newsletters.admin.forms import DigestAdminForm, EntryAdminForm, TagAdminForm
from newsletters.models import (
    ABSTRACT_MAX_CHARS,
    COMMENTARY_MAX_CHARS,
    CONTROL_CHARACTERS,
    IMPORT_MAX_BYTES,
    MAX_AUTHORS,
    TITLE_MAX_CHARS,
    Digest,
    Entry,
)
from tests.factories import make_digest
from tests.newsletters.admin.test_digest import GOOD_TEXT
from tests.newsletters.admin.test_entry import entry_form_data

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/newsletters/digest/import/"


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    settings.LANGUAGE_CODE = "en"


def entry_errors(**fields) -> dict:
    form = EntryAdminForm(data=entry_form_data(**fields))
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("title", TITLE_MAX_CHARS),
        ("abstract", ABSTRACT_MAX_CHARS),
        ("commentary_ko", COMMENTARY_MAX_CHARS),
        ("commentary_en", COMMENTARY_MAX_CHARS),
    ],
)
def test_each_text_field_takes_its_limit_and_refuses_one_more_character_saying_so(field, limit):
    assert field not in entry_errors(**{field: "가" * limit})
    errors = entry_errors(**{field: "가" * (limit + 1)})[field]
    assert any(f"{limit:,} characters (it has {limit + 1:,})" in error for error in errors), errors


def test_browser_line_ends_count_as_one_character():
    text = "line\r\n" * (COMMENTARY_MAX_CHARS // 5)  # 5 characters per line once stored as \n
    assert "commentary_en" not in entry_errors(commentary_en=text)


def test_too_many_authors_or_an_overlong_name_are_refused():
    many = ", ".join(f"Author {n}" for n in range(MAX_AUTHORS + 1))
    assert "At most 3,000 authors" in entry_errors(authors=many)["authors"][0]
    assert "longer than 300 characters" in entry_errors(authors="A" * 301)["authors"][0]


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\ufeff", "\uffff", "\r"])
def test_control_characters_are_refused_in_every_text_field_with_their_position(char):
    for field in ("title", "abstract", "commentary_ko", "commentary_en"):
        errors = entry_errors(**{field: f"ab{char}cd"})
        assert field in errors, (field, char)
        assert f"U+{ord(char):04X}" in errors[field][0] or "Null characters" in errors[field][0]
    # Author names are split on whitespace and rejoined: a whitespace control becomes a space.
    form = EntryAdminForm(data=entry_form_data(authors=f"Ada{char}Lovelace, Alan"))
    if form.is_valid():
        assert form.cleaned_data["authors"] == ["Ada Lovelace", "Alan"]
    else:
        assert set(form.errors) == {"authors"}


def test_tab_and_newlines_are_plain_text():
    assert entry_errors(commentary_en="One\tcolumn.\r\n\r\nTwo.\n\nThree.") == {}


def test_the_digest_intro_and_the_tag_description_follow_the_same_rules():
    digest = DigestAdminForm(data={"date": "2025-07-10", "date_format": "iso", "intro_en": "Hi\x0bthere"})
    tag = TagAdminForm(data={"slug": "rl", "name": "RL\x1b", "description": "d" * 2001})

    assert not digest.is_valid() and "U+000B" in digest.errors["intro_en"][0]
    assert not tag.is_valid() and "U+001B" in tag.errors["name"][0]
    assert "2,000 characters" in tag.errors["description"][0]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8"), max_size=30))
def test_any_title_is_accepted_exactly_when_it_is_plain_text(text):
    form = EntryAdminForm(data=entry_form_data(title=f"T {text}"))
    valid = form.is_valid()
    title = f"T {text}".strip()
    if valid:
        assert not CONTROL_CHARACTERS.search(form.cleaned_data["title"])
    else:
        assert set(form.errors) == {"title"}
        assert CONTROL_CHARACTERS.search(title) or "\x00" in title


def test_saving_an_entry_with_a_vertical_tab_in_the_admin_stores_nothing(admin_client):
    response = admin_client.post(
        reverse("admin:newsletters_entry_add"), entry_form_data(title="Bad\x0btitle")
    )

    assert response.status_code == 200
    assert "U+000B" in response.content.decode()
    assert not Entry.objects.exists()


def test_an_upload_over_the_import_limit_is_refused_with_its_limit(admin_client):
    data = (GOOD_TEXT + "\n" * IMPORT_MAX_BYTES).encode()
    upload = SimpleUploadedFile("day.txt", data, content_type="text/plain")

    response = admin_client.post(IMPORT_URL, {"text": "", "file": upload})

    assert response.status_code == 200
    assert f"larger than {IMPORT_MAX_BYTES:,} bytes" in response.content.decode()
    assert not Digest.objects.exists()


def test_an_upload_within_the_limit_imports(admin_client):
    upload = SimpleUploadedFile("day.txt", GOOD_TEXT.encode(), content_type="text/plain")

    response = admin_client.post(IMPORT_URL, {"text": "", "file": upload})

    assert response.status_code == 302
    assert Digest.objects.get().entries.count() == 2


def test_no_upload_is_kept_past_the_global_cap(settings):
    settings.FILE_UPLOAD_MAX_BYTES = 100_000
    body = encode_multipart(BOUNDARY, {"csrfmiddlewaretoken": "t", "file": io.BytesIO(b"x" * 5_000_000)})
    request = RequestFactory().generic("POST", "/", body, content_type=MULTIPART_CONTENT)
    handlers = [
        CappedUploadHandler(request),
        *[handler for handler in request.upload_handlers],
    ]

    post, files = MultiPartParser(request.META, io.BytesIO(body), handlers).parse()

    kept = files["file"].size
    assert 100_000 < kept <= 100_000 + 64 * 1024
    assert post["csrfmiddlewaretoken"] == "t"  # fields after the file are still read


def test_the_capped_handler_is_the_first_of_the_configured_ones(settings):
    assert settings.FILE_UPLOAD_HANDLERS[0] == "digest_site.uploads.CappedUploadHandler"


def test_the_import_page_never_500s_on_a_truncated_upload(admin_client, settings):
    settings.FILE_UPLOAD_MAX_BYTES = 1000
    make_digest("2025-07-10")
    upload = SimpleUploadedFile("day.txt", GOOD_TEXT.encode() * 10, content_type="text/plain")

    response = admin_client.post(IMPORT_URL, {"text": "", "file": upload})

    assert response.status_code == 200
    assert "larger than" in response.content.decode()
