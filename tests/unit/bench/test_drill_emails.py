"""The notifications drill's account of emails (bench/drills/emails.py): a message in no email
is lost, in two emails is duplicated, but two copies of one Message-ID (the service's re-send
after a crash) are one email, as a de-duplicating receiver shows them."""

from __future__ import annotations

from typing import Any

from bench.drills.checker import StoredMessage
from bench.drills.emails import EmailSeen, account
from bench.prepare import Pair, User

CONV = "c" * 24
AGENT = User("agent@x.test", "pw", "agent", id="a")
PAIR = Pair(CONV, User("customer@x.test", "pw", "customer", id="u"), AGENT)


def sent(*client_ids: str) -> list[tuple[Pair, tuple[str, float, Any]]]:
    return [(PAIR, (cid, 0.0, {"_id": cid})) for cid in client_ids]


def stored(*client_ids: str) -> list[StoredMessage]:
    return [StoredMessage(f"m{n}", CONV, n + 1, "u", cid) for n, cid in enumerate(client_ids)]


def email(message_id: str, *client_ids: str) -> EmailSeen:
    return EmailSeen(AGENT.email, CONV, set(client_ids), message_id)


def test_each_message_in_one_email_passes() -> None:
    figures = account(
        sent("a", "b", "c"),
        stored("a", "b", "c"),
        [email("<1>", "a", "b"), email("<2>", "c")],
        [PAIR],
    )
    assert (figures.delivered_live, figures.lost, figures.duplicated) == (3, 0, 0)
    assert figures.errors["resent_same_message_id"] == 0


def test_a_resend_with_the_same_message_id_is_one_email() -> None:
    received = [email("<1>", "a", "b"), email("<1>", "a", "b"), email("<2>", "c")]
    figures = account(sent("a", "b", "c"), stored("a", "b", "c"), received, [PAIR])
    assert (figures.lost, figures.duplicated) == (0, 0)
    assert figures.errors["resent_same_message_id"] == 1
    assert figures.errors["conversations_emailed_twice"] == 1  # <1> and <2>


def test_the_same_messages_under_another_message_id_are_duplicated() -> None:
    received = [email("<1>", "a", "b"), email("<2>", "a", "b", "c")]
    figures = account(sent("a", "b", "c"), stored("a", "b", "c"), received, [PAIR])
    assert figures.duplicated == 2 and figures.lost == 0


def test_a_copy_of_one_message_id_counts_as_its_first_so_what_only_it_holds_is_lost() -> None:
    # A receiver keeps the first copy: a message only in a later copy never shows.
    received = [email("<1>", "a"), email("<1>", "a", "b")]
    figures = account(sent("a", "b"), stored("a", "b"), received, [PAIR])
    assert figures.lost == 1 and figures.lost_examples == [f"{CONV}#2 in no email"]


def test_an_email_to_someone_else_is_lost() -> None:
    stray = EmailSeen("other@x.test", CONV, {"a"}, "<1>")
    figures = account(sent("a"), stored("a"), [stray], [PAIR])
    assert figures.lost == 2  # not in an email to the agent, and one sent astray
    assert figures.errors["emails_to_someone_else"] == 1
