"""The one self-subscription mechanism loans (to escrow) and scoring (to loans) share, against a
fake publisher: the stored file, the ensure algorithm, the job that runs it until it succeeds."""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.clients.platform import WebhookSubscription
from shared.http_client import ServiceUnreachable
from shared.self_subscription import (
    SubscriptionFile,
    SubscriptionOutcome,
    ensure_subscription,
    until_subscribed,
)

URL = "http://receiver.test/v1/inbound/publisher"


@dataclass
class FakePublisher:
    """A publisher's ``/v1/webhooks`` in memory; ``down`` makes every call unreachable."""

    subs: dict[str, WebhookSubscription] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    answers: dict[str, WebhookSubscription] = field(default_factory=dict)
    """Idempotency: what each subscribe key was answered (a repeated key gets the same answer)."""
    down: bool = False

    def _reach(self) -> None:
        if self.down:
            raise ServiceUnreachable("connection refused")

    def subscriptions(self) -> list[WebhookSubscription]:
        self._reach()
        return [s.model_copy(update={"secret": None}) for s in self.subs.values()]

    def subscribe(self, *, url: str, topics: list[str], idempotency_key: str) -> WebhookSubscription:
        self._reach()
        self.keys.append(idempotency_key)
        if idempotency_key in self.answers:
            return self.answers[idempotency_key]
        n = len(self.subs) + 1
        sub = WebhookSubscription(id=f"sub-{n}", url=url, topics=topics, active=True, secret=f"whsec_{n}")
        self.subs[sub.id] = sub
        self.answers[idempotency_key] = sub
        return sub

    def deactivate_subscription(self, subscription_id: str, *, idempotency_key: str) -> WebhookSubscription:
        self._reach()
        self.keys.append(idempotency_key)
        self.subs[subscription_id] = self.subs[subscription_id].model_copy(update={"active": False})
        return self.subs[subscription_id]

    def active(self) -> list[str]:
        return [s.id for s in self.subs.values() if s.active]


def _ensure(
    publisher: FakePublisher, stored: SubscriptionFile, secret: str | None = None
) -> SubscriptionOutcome:
    return ensure_subscription(
        publisher, subscriber="receiver", url=URL, topics=["a.b"], stored=stored, configured_secret=secret
    )


def test_the_file_holds_id_and_secret_together_for_its_owner_only(tmp_path: Path) -> None:
    stored = SubscriptionFile(tmp_path / "nested" / "publisher-webhook.secret")
    assert stored.read() == (None, None)
    stored.write("sub-1", "whsec_1")
    assert stored.read() == ("sub-1", "whsec_1")
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o600
    assert not stored.path.with_suffix(".partial").exists()
    for garbage in ("not json", "[1, 2]", '{"subscription_id": 7, "secret": ""}'):
        stored.path.write_text(garbage)
        assert stored.read() == (None, None)


def test_subscribes_once_then_finds_it_present(tmp_path: Path) -> None:
    publisher, stored = FakePublisher(), SubscriptionFile(tmp_path / "s.secret")
    assert _ensure(publisher, stored) == SubscriptionOutcome("subscribed", "sub-1")
    assert stored.read() == ("sub-1", "whsec_1")
    assert _ensure(publisher, stored) == SubscriptionOutcome("present", "sub-1")
    assert publisher.active() == ["sub-1"] and publisher.keys[0].startswith("receiver-subscribe-")


def test_a_lost_file_or_an_unknown_subscription_starts_over(tmp_path: Path) -> None:
    publisher, stored = FakePublisher(), SubscriptionFile(tmp_path / "s.secret")
    _ensure(publisher, stored)
    stored.path.unlink()
    assert _ensure(publisher, stored) == SubscriptionOutcome("subscribed", "sub-2")
    assert publisher.active() == ["sub-2"] and "receiver-unsubscribe-sub-1" in publisher.keys
    publisher.subs["sub-2"] = publisher.subs["sub-2"].model_copy(update={"active": False})  # an admin
    assert _ensure(publisher, stored) == SubscriptionOutcome("subscribed", "sub-3")
    assert stored.read() == ("sub-3", "whsec_3")


@dataclass
class StaleView:
    """A second worker's view of the publisher: it listed the subscriptions before the first subscribed."""

    publisher: FakePublisher
    listed: list[WebhookSubscription]

    def subscriptions(self) -> list[WebhookSubscription]:
        return self.listed

    def subscribe(self, *, url: str, topics: list[str], idempotency_key: str) -> WebhookSubscription:
        return self.publisher.subscribe(url=url, topics=topics, idempotency_key=idempotency_key)

    def deactivate_subscription(self, subscription_id: str, *, idempotency_key: str) -> WebhookSubscription:
        return self.publisher.deactivate_subscription(subscription_id, idempotency_key=idempotency_key)


def test_two_workers_checking_at_once_make_one_subscription(tmp_path: Path) -> None:
    publisher, stored = FakePublisher(), SubscriptionFile(tmp_path / "s.secret")
    second = StaleView(publisher, listed=publisher.subscriptions())  # it looked before the first subscribed
    assert _ensure(publisher, stored) == SubscriptionOutcome("subscribed", "sub-1")
    stored.path.unlink()  # the second worker has not seen the first's file either
    outcome = ensure_subscription(
        second, subscriber="receiver", url=URL, topics=["a.b"], stored=stored, configured_secret=None
    )
    assert outcome == SubscriptionOutcome("subscribed", "sub-1")
    assert publisher.active() == ["sub-1"] and stored.read() == ("sub-1", "whsec_1")
    assert publisher.keys[0] == publisher.keys[1]


def test_a_later_check_that_saw_something_else_subscribes_anew(tmp_path: Path) -> None:
    publisher, stored = FakePublisher(), SubscriptionFile(tmp_path / "s.secret")
    _ensure(publisher, stored)
    publisher.subs["sub-1"] = publisher.subs["sub-1"].model_copy(update={"active": False})  # an admin
    assert _ensure(publisher, stored) == SubscriptionOutcome("subscribed", "sub-2")
    assert len({k for k in publisher.keys if k.startswith("receiver-subscribe-")}) == 2


def test_an_operator_secret_leaves_the_publisher_alone(tmp_path: Path) -> None:
    publisher, stored = FakePublisher(down=True), SubscriptionFile(tmp_path / "s.secret")
    assert _ensure(publisher, stored, secret="whsec_operator") == SubscriptionOutcome("configured")
    assert publisher.subs == {} and stored.read() == (None, None)


def test_the_job_tries_again_while_the_publisher_is_down_then_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, stored = FakePublisher(down=True), SubscriptionFile(tmp_path / "s.secret")
    job = until_subscribed(lambda: _ensure(publisher, stored), publisher="pub", log=logging.getLogger("t"))
    with caplog.at_level(logging.WARNING, logger="t"):
        assert job() is None
    assert "cannot subscribe to pub's events yet" in caplog.text and stored.read() == (None, None)
    publisher.down = False
    assert job() == SubscriptionOutcome("subscribed", "sub-1")
    publisher.down = True  # done: the job calls the publisher no more
    assert job() is None and publisher.active() == ["sub-1"]
