"""What a broken rule looks like here: the shared plain exceptions (`workcity_common.domain_errors`),
whose kind the entrypoints turn into the contract's JSON `{msg, code}` from one table."""

from __future__ import annotations

from workcity_common.domain_errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    UnsupportedType,
)

__all__ = [
    "Busy",
    "Conflict",
    "FileTypeRefused",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "TooLarge",
]


class InvalidInput(Invalid):
    """Bad input, code first: every rule here names its code before its message."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg, code)


class FileTypeRefused(UnsupportedType):
    default_code = "file_type_not_allowed"
