import pytest
from workcity_auth.domain.rules import (
    CREATABLE_ROLES,
    RuleViolation,
    check_password,
    is_admin,
    is_support,
    login_backoff_seconds,
    normalize_email,
)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Alice@Example.COM \n") == "alice@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "no-at-sign",
        "a@",
        "@b.io",
        "a b@c.io",
        "a@b@c.io",
        # control and bidirectional characters, header separators: they broke the email sent
        "a\x00b@c.io",
        "a@c.io\x00",
        "a\u202eb@c.io",
        "a@c\u202e.io",
        "<a@c.io",
        "a,b@c.io",
        "a@c,d.io",
        "a\tb@c.io",
        "a@c.io\nx@y.io",
    ],
)
def test_malformed_email_is_refused(bad: str) -> None:
    with pytest.raises(RuleViolation) as exc:
        normalize_email(bad)
    assert exc.value.code == "invalid_email"


def test_email_keeps_the_printable_characters_an_address_may_hold() -> None:
    assert normalize_email("o'neil+tag@mail-1.example.co") == "o'neil+tag@mail-1.example.co"
    assert normalize_email("staff@workcity.local") == "staff@workcity.local"


def test_password_shorter_than_minimum_is_refused() -> None:
    with pytest.raises(RuleViolation) as exc:
        check_password("12345", min_length=6)
    assert exc.value.code == "weak_password"
    assert "at least 6" in exc.value.msg


def test_password_of_exactly_minimum_and_72_bytes_is_accepted() -> None:
    check_password("123456", min_length=6)
    check_password("x" * 72, min_length=6)


def test_password_over_72_bytes_is_refused_not_truncated() -> None:
    with pytest.raises(RuleViolation) as exc:
        check_password("x" * 73, min_length=6)
    assert exc.value.code == "password_too_long"


def test_password_limit_counts_utf8_bytes_not_characters() -> None:
    # 25 characters of 3 bytes each: 75 bytes, past bcrypt's 72.
    with pytest.raises(RuleViolation):
        check_password("€" * 25, min_length=6)
    check_password("€" * 24, min_length=6)


@pytest.mark.parametrize(
    ("role", "support", "admin"),
    [
        ("customer", False, False),
        ("agent", True, False),
        ("designer", True, False),
        ("merchant", True, False),
        ("admin", True, True),
    ],
)
def test_roles(role: str, support: bool, admin: bool) -> None:
    assert is_support(role) is support
    assert is_admin(role) is admin


def test_admins_create_staff_but_never_customers() -> None:
    assert CREATABLE_ROLES == {"agent", "designer", "merchant", "admin"}


def test_login_backoff_is_free_at_first_then_doubles_up_to_the_cap() -> None:
    delays = [login_backoff_seconds(n, free=3, base_s=1.0, max_s=10.0) for n in range(0, 9)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert login_backoff_seconds(10_000, free=3, base_s=1.0, max_s=900.0) == 900.0
