"""Helpers for the delivery tests: readers, a digest ready to send, and running a send in-process."""

import email
import email.policy
from email.message import EmailMessage

from newsletters.delivery import ledger, planning, sending
from newsletters.mail.smtpsink import ScriptedHandler
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from tests.factories import make_digest, make_entry, make_tag


def make_reader(
    address: str, *, language: str = "both", tags=(), state: str = Subscriber.Status.ACTIVE
) -> Subscriber:
    reader = Subscriber.objects.create(email=address, language=language, state=state)
    reader.tags.set([make_tag(slug) for slug in tags])
    return reader


def make_sendable_digest(date: str = "2025-07-10") -> tuple[Digest, dict[str, int]]:
    """A digest with three entries (#rl, #nlp, #vision #rl) and their ids by short name."""
    digest = make_digest(date)
    rl = make_entry(
        tags=("rl",),
        digest=digest,
        position=1,
        title="Reinforcement paper",
        commentary_ko="강화학습 해설",
        commentary_en="RL commentary",
    )
    nlp = make_entry(
        tags=("nlp",),
        digest=digest,
        position=2,
        title="Language paper",
        commentary_ko="언어 모델 해설",
        commentary_en="NLP commentary",
    )
    vision = make_entry(
        tags=("vision", "rl"),
        digest=digest,
        position=3,
        title="Vision paper",
        commentary_ko="비전 해설",
        commentary_en="Vision commentary",
    )
    return digest, {"rl": rl.pk, "nlp": nlp.pk, "vision": vision.pk}


def queue_send(digest: Digest, capture) -> list[list[int]]:
    """start_send as a trigger runs it; the batches it enqueued after commit."""
    from newsletters import tasks

    batches: list[list[int]] = []
    original = tasks.send_batch.delay
    tasks.send_batch.delay = lambda ids: batches.append(list(ids))
    try:
        with capture(execute=True):
            planning.start_send(digest_id=digest.pk)
    finally:
        tasks.send_batch.delay = original
    return batches


def send_all(batches: list[list[int]]) -> list[ledger.BatchResult]:
    """Run each batch the way a worker would, in this process."""
    return [sending.send_batch(batch) for batch in batches]


def parsed(handler: ScriptedHandler) -> dict[str, EmailMessage]:
    """Messages the sink received, by recipient (each recipient at most once is asserted)."""
    recipients = [r.recipient for r in handler.received]
    assert len(recipients) == len(set(recipients)), f"someone got two copies: {recipients}"
    return {
        r.recipient: email.message_from_bytes(r.data, policy=email.policy.default) for r in handler.received
    }


def body_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def statuses(digest: Digest) -> dict[str, str]:
    return dict(Delivery.objects.filter(digest=digest).values_list("subscriber__email", "status"))


def make_staff(username: str, *, can_send: bool, email: str = ""):
    """A staff login that may edit digests; with can_send, also move them (schedule, send, pause)."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, email or f"{username}@example.com", "pw", is_staff=True)
    codenames = ["view_digest", "change_digest"] + (["send_digest"] if can_send else [])
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per object


class Broker:
    """Stands in for the broker: tasks enqueued after commit are kept here, and run on demand."""

    def __init__(self, monkeypatch) -> None:
        from newsletters import tasks

        self.batches: list[list[int]] = []
        self.plans: list[int] = []
        monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: self.batches.append(list(ids)))
        monkeypatch.setattr(tasks.plan_send, "delay", lambda digest_id: self.plans.append(digest_id))

    def run(self, capture, *, limit: int | None = None) -> int:
        """Plan what waits to be planned, then send batches (at most limit); the batches run."""
        ran = 0
        while self.plans or self.batches:
            while self.plans:
                with capture(execute=True):
                    planning.plan_send(digest_id=self.plans.pop(0))
            if not self.batches or (limit is not None and ran >= limit):
                return ran
            with capture(execute=True):
                sending.send_batch(self.batches.pop(0))
            ran += 1
        return ran
