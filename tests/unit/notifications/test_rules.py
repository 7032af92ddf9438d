"""The pure scheduling rules and the email body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workcity_notifications.adapters.smtp import to_message
from workcity_notifications.domain import rules
from workcity_notifications.domain.email import compose, mail_domain, message_id
from workcity_notifications.domain.rules import PendingMessage, Recipient

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DELAY = timedelta(seconds=120)
WINDOW = timedelta(seconds=600)


def msg(seq: int, text: str = "hi", at: datetime = T0) -> PendingMessage:
    return PendingMessage(id=f"m{seq}", seq=seq, sender_email="c@x.test", text=text, created_at=at)


def decide(messages: list[PendingMessage], **kw: object) -> rules.Decision:
    args: dict[str, object] = {
        "online": False,
        "last_sent_at": None,
        "window": WINDOW,
        "now": T0 + DELAY,
        "unknown_retry": timedelta(seconds=10),
    }
    args.update(kw)
    recipient = args.pop("recipient", Recipient("u1", "agent@x.test"))
    return rules.decide(messages, recipient, **args)  # type: ignore[arg-type]


def test_recipients_are_everyone_but_the_sender_once() -> None:
    assert rules.recipients(["a", "b", "b", "c"], "a") == ["b", "c"]
    assert rules.recipients(["a"], "a") == []


def test_a_batch_is_due_a_delay_after_its_first_message() -> None:
    assert rules.due_at(T0, DELAY, None, WINDOW) == T0 + DELAY


def test_the_window_pushes_the_next_email_back() -> None:
    sent = T0 - timedelta(seconds=60)
    assert rules.due_at(T0, DELAY, sent, WINDOW) == sent + WINDOW
    long_ago = T0 - timedelta(hours=1)
    assert rules.due_at(T0, DELAY, long_ago, WINDOW) == T0 + DELAY


def test_nothing_unread_when_due_drops_the_email() -> None:
    # The conversations service answers with nothing: read or deleted since.
    assert decide([]) == rules.Decision("drop", "read")


def test_due_batch_of_an_offline_known_recipient_is_sent_as_one() -> None:
    assert decide([msg(1), msg(2), msg(3)]) == rules.Decision("send", "due")


def test_online_recipient_is_not_emailed() -> None:
    assert decide([msg(1)], online=True) == rules.Decision("drop", "online")


def test_disabled_recipient_is_not_emailed() -> None:
    assert decide([msg(1)], recipient=Recipient("u1", "a@x.test", disabled=True)).reason == (
        "disabled"
    )


def test_unknown_recipient_is_looked_at_again_later() -> None:
    decision = decide([msg(1)], recipient=None)
    assert decision.action == "later"
    assert decision.retry_at == T0 + DELAY + timedelta(seconds=10)


def test_within_the_window_the_batch_waits() -> None:
    sent = T0 + DELAY - timedelta(seconds=30)
    decision = decide([msg(1)], last_sent_at=sent)
    assert decision == rules.Decision("later", "window", sent + WINDOW)


def test_presence_online_only_while_fresh() -> None:
    age = timedelta(hours=1)
    assert rules.is_online(True, T0, T0 + timedelta(minutes=5), age)
    assert not rules.is_online(True, T0, T0 + timedelta(hours=2), age)
    assert not rules.is_online(False, T0, T0, age)
    assert not rules.is_online(None, None, T0, age)


def test_retry_backoff_doubles_up_to_the_maximum() -> None:
    top = timedelta(seconds=60)
    assert [rules.retry_backoff(n, top).total_seconds() for n in (1, 2, 3, 4, 5, 50)] == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]


def test_email_has_every_text_the_link_and_escapes_html() -> None:
    batch = [msg(2, "second"), msg(1, "<script>alert(1)</script> & more"), msg(3, "third")]
    email = compose("agent@x.test", "c0ffee", batch, "https://chat.example/", message_id="<m@x>")
    assert email.to == "agent@x.test"
    assert email.subject == "3 unread messages from c@x.test on Workcity Chat"
    assert "https://chat.example/chat/c0ffee" in email.text
    assert email.text.index("<script>") < email.text.index("second") < email.text.index("third")
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in email.html
    assert 'href="https://chat.example/chat/c0ffee"' in email.html


def test_the_message_id_names_the_conversation_recipient_and_messages_and_is_sent_as_is() -> None:
    mid = message_id("c0ffee", "a9e47", 4, 7, mail_domain("Workcity <no-reply@mail.example>"))
    assert mid == "<notify.c0ffee.a9e47.4-7@mail.example>"
    # The same batch gives the same id (a re-send is the same message); another batch another.
    assert mid == message_id("c0ffee", "a9e47", 4, 7, "mail.example")
    assert mid != message_id("c0ffee", "a9e47", 8, 9, "mail.example")
    assert mail_domain("no address") == "workcity.chat"
    email = compose("agent@x.test", "c0ffee", [msg(4)], "https://chat.example", message_id=mid)
    assert to_message(email, "Workcity <no-reply@mail.example>")["Message-ID"] == mid
