"""Planning a send: the audience, one render per variant, the ledger rows, one trigger wins."""

import datetime
import hashlib
import zoneinfo

import pytest

from newsletters.delivery import planning
from newsletters.models import Delivery, Digest, DigestVariant
from subscribers.models import Subscriber
from tests.newsletters.delivery.helpers import (
    body_html,
    body_text,
    make_reader,
    make_sendable_digest,
    parsed,
    queue_send,
    send_all,
    statuses,
)

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")


def test_each_reader_gets_one_email_with_only_their_entries_in_their_language(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("ko-rl@example.com", language="ko", tags=("rl",))
    make_reader("en-nlp@example.com", language="en", tags=("nlp",))
    make_reader("both-all@example.com", language="both")

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    mail = parsed(sink)
    assert set(mail) == {"ko-rl@example.com", "en-nlp@example.com", "both-all@example.com"}
    ko = body_text(mail["ko-rl@example.com"])
    assert "Reinforcement paper" in ko and "Vision paper" in ko and "Language paper" not in ko
    assert "강화학습 해설" in ko and "RL commentary" not in ko
    assert ko.index("Reinforcement paper") < ko.index("Vision paper")  # the editor's order
    en = body_html(mail["en-nlp@example.com"])
    assert "Language paper" in en and "Reinforcement paper" not in en
    assert "NLP commentary" in en and "언어 모델 해설" not in en
    both = body_text(mail["both-all@example.com"])
    assert all(title in both for title in ("Reinforcement paper", "Language paper", "Vision paper"))
    assert "강화학습 해설" in both and "RL commentary" in both


def test_each_variant_is_rendered_once_however_many_readers_share_it(
    sink, django_capture_on_commit_callbacks
):
    digest, ids = make_sendable_digest()
    for n in range(5):
        make_reader(f"rl{n}@example.com", language="ko", tags=("rl",))
    # #rl and #vision give the same entries as #rl alone: the same variant.
    make_reader("rl-vision@example.com", language="ko", tags=("rl", "vision"))
    for n in range(3):
        make_reader(f"en{n}@example.com", language="en")
    renders_before = planning.render_count

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    variants = {
        (tuple(v.entry_ids), v.language): v.reader_count for v in DigestVariant.objects.filter(digest=digest)
    }
    assert variants == {
        ((ids["rl"], ids["vision"]), "ko"): 6,
        ((ids["rl"], ids["nlp"], ids["vision"]), "en"): 3,
    }
    assert planning.render_count - renders_before == 2
    assert sink.count == 9


def test_a_reader_whose_tags_match_nothing_gets_no_email_and_is_recorded_as_skipped(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("robots@example.com", tags=("robotics",))
    make_reader("rl@example.com", tags=("rl",))

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert set(parsed(sink)) == {"rl@example.com"}
    assert statuses(digest) == {"robots@example.com": "skipped", "rl@example.com": "sent"}
    assert (
        Delivery.objects.get(subscriber__email="robots@example.com").last_error
        == "no entry matches the reader's tags"
    )


def test_only_active_readers_are_in_the_audience(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("active@example.com")
    make_reader("pending@example.com", state=Subscriber.Status.PENDING)
    make_reader("gone@example.com", state=Subscriber.Status.UNSUBSCRIBED)
    make_reader("bounced@example.com", state=Subscriber.Status.BOUNCED)

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert statuses(digest) == {"active@example.com": "sent"}
    assert set(parsed(sink)) == {"active@example.com"}


def test_triggering_the_send_twice_sends_once(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")

    first = queue_send(digest, django_capture_on_commit_callbacks)
    second = queue_send(digest, django_capture_on_commit_callbacks)
    send_all(first + first)  # a duplicated task claims nothing

    assert second == [] and sink.count == 1
    assert Delivery.objects.count() == 1


def test_a_draft_with_no_ready_entry_cannot_start():
    digest = Digest.objects.create(date=datetime.date(2025, 7, 10))
    with pytest.raises(planning.DeliveryError):
        planning.start_send(digest_id=digest.pk)
    digest.refresh_from_db()
    assert digest.status == Digest.Status.DRAFT


def test_readers_without_abstracts_get_their_own_variant_rendered_once(
    sink, django_capture_on_commit_callbacks
):
    digest, ids = make_sendable_digest()
    for n in range(3):
        make_reader(f"with{n}@example.com", language="ko", tags=("rl",))
    for n in range(2):
        reader = make_reader(f"without{n}@example.com", language="ko", tags=("rl",))
        reader.set_preferences(language="ko", tags=list(reader.tags.all()), include_abstracts=False)
    reader = make_reader("en-without@example.com", language="en")
    reader.set_preferences(language="en", tags=[], include_abstracts=False)
    plan = planning.plan_audience(digest=digest)
    renders_before = planning.render_count

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    rl = [ids["rl"], ids["vision"]]
    every = [ids["rl"], ids["nlp"], ids["vision"]]
    expected = [
        {"entry_ids": rl, "language": "ko", "include_abstracts": True, "readers": 3},
        {"entry_ids": rl, "language": "ko", "include_abstracts": False, "readers": 2},
        {"entry_ids": every, "language": "en", "include_abstracts": False, "readers": 1},
    ]
    assert plan["by_variant"] == expected and plan["variants"] == 3
    variants = DigestVariant.objects.filter(digest=digest)
    assert sorted((v.entry_ids, v.language, v.include_abstracts, v.reader_count) for v in variants) == sorted(
        (v["entry_ids"], v["language"], v["include_abstracts"], v["readers"]) for v in expected
    )
    assert planning.render_count - renders_before == variants.count() == 3
    assert len({v.key for v in variants}) == 3
    mail = parsed(sink)
    assert sink.count == 6
    # The factories' abstract, "We study things.", is in the email only of readers who keep abstracts.
    assert "We study things." in body_html(mail["with0@example.com"]) + body_text(mail["with0@example.com"])
    for address in ("without0@example.com", "without1@example.com", "en-without@example.com"):
        assert "We study things." not in body_html(mail[address]) + body_text(mail[address])


def test_the_variant_key_of_readers_with_abstracts_is_the_one_it_always_was():
    assert planning.variant_key((1, 2), "ko", True) == hashlib.sha1(b"ko:1,2").hexdigest()
    assert planning.variant_key((1, 2), "ko", False) != planning.variant_key((1, 2), "ko", True)
