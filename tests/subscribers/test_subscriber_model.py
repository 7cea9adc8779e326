import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from subscribers.models import Subscriber, normalise_email
from tests.subscribers.helpers import make_subscriber


def test_addresses_are_stored_lower_case_and_trimmed():
    assert normalise_email("  Alice.Smith@Example.COM ") == "alice.smith@example.com"


def test_internationalised_domains_are_stored_in_one_ascii_spelling():
    assert normalise_email("reader@Bücher.example") == "reader@xn--bcher-kva.example"
    assert normalise_email("reader@xn--bcher-kva.example") == "reader@xn--bcher-kva.example"
    assert normalise_email("Reader@예시.한국") == "reader@xn--vv4b11d.xn--3e0b707e"


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "@example.com", "a@", "a b@example.com", "a@b@c", "x@-bad-.com"]
)
def test_invalid_addresses_are_rejected(bad):
    with pytest.raises(ValidationError):
        normalise_email(bad)


@pytest.mark.django_db
def test_the_same_address_in_another_case_finds_the_same_subscriber():
    make_subscriber("alice@example.com")
    assert Subscriber.objects.with_email("ALICE@Example.com").get().email == "alice@example.com"
    assert not Subscriber.objects.with_email("not an address").exists()


@pytest.mark.django_db
def test_an_address_can_be_stored_only_once():
    make_subscriber("alice@example.com")
    with pytest.raises(IntegrityError):
        Subscriber.objects.create(email="alice@example.com")


@pytest.mark.django_db
def test_active_lists_only_confirmed_readers(alice, bob, carol):
    make_subscriber("dan@example.com", Subscriber.Status.BOUNCED)
    make_subscriber("erin@example.com", Subscriber.Status.COMPLAINED)
    assert list(Subscriber.objects.active()) == [alice]


@pytest.mark.django_db
def test_each_state_change_is_recorded_with_its_source(bob):
    assert bob.confirm(source="confirm-link")
    assert bob.unsubscribe(source="one-click")
    assert bob.confirm(source="confirm-link")
    history = [(e.from_state, e.to_state, e.source) for e in bob.events.all()]
    assert history[1:] == [
        ("pending", "active", "confirm-link"),
        ("active", "unsubscribed", "one-click"),
        ("unsubscribed", "active", "confirm-link"),
    ]
    assert all(event.at for event in bob.events.all())
    bob.refresh_from_db()
    assert bob.state == "active" and bob.confirmed_at is not None


@pytest.mark.django_db
def test_repeating_a_change_does_nothing_and_writes_no_history(alice):
    events = alice.events.count()
    assert not alice.confirm()
    assert alice.unsubscribe(source="link")
    assert not alice.unsubscribe(source="link")
    assert alice.events.count() == events + 1


@pytest.mark.django_db
def test_a_stale_copy_cannot_overwrite_a_newer_state(alice):
    stale = Subscriber.objects.get(pk=alice.pk)
    alice.suppress("bounced", source="smtp")
    assert not stale.unsubscribe(source="link")
    stale.refresh_from_db()
    assert stale.state == "bounced"


@pytest.mark.django_db
def test_suppressed_readers_cannot_merely_unsubscribe(alice):
    alice.suppress("complained", source="esp")
    assert not alice.unsubscribe(source="link")
    assert not hasattr(alice, "resubscribe")  # coming back is confirm(), after a fresh email
    assert not alice.suppress("bounced", source="smtp")
    assert alice.state == "complained"


@pytest.mark.django_db
def test_only_confirming_brings_a_suppressed_reader_back(alice):
    alice.suppress("bounced", source="smtp")
    assert alice.confirm(source="confirm-link")
    assert Subscriber.objects.active().filter(pk=alice.pk).exists()


@pytest.mark.django_db
def test_preferences_replace_language_and_tags(alice):
    alice.set_preferences(language="ko", tags=[])
    alice.refresh_from_db()
    assert alice.language == "ko" and alice.wants_every_tag()
    with pytest.raises(ValueError):
        alice.set_preferences(language="fr", tags=[])
