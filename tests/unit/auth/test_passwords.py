import bcrypt
import pytest
from workcity_auth.adapters.passwords import PasswordHasher


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(rounds=4)


async def test_a_password_over_72_bytes_never_matches_and_does_not_raise(
    hasher: PasswordHasher,
) -> None:
    # bcrypt 5 raises on more than 72 bytes: a login with such a password was a 500.
    stored = await hasher.hash("x" * 72)
    assert await hasher.verify("x" * 73, stored) is False
    assert await hasher.verify("x" * 10_000, None) is False
    assert await hasher.verify("x" * 72, stored) is True


async def test_a_password_over_72_bytes_still_costs_one_bcrypt_check(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(len(password))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    await hasher.verify("é" * 40, await hasher.hash("secret-pw"))
    assert checks == [72]
