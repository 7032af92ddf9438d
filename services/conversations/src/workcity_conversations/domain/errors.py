"""What a broken rule looks like: an `ApiError` with a fixed status, so the entrypoints pass it
through as the contract's JSON `{msg, code}` without translating."""

from __future__ import annotations

from workcity_common.errors import ApiError


class InvalidInput(ApiError):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(400, code, msg)


class Forbidden(ApiError):
    def __init__(self, msg: str, code: str = "forbidden") -> None:
        super().__init__(403, code, msg)


class NotFound(ApiError):
    def __init__(self, msg: str, code: str = "not_found") -> None:
        super().__init__(404, code, msg)


class FileTypeRefused(ApiError):
    def __init__(self, msg: str, code: str = "file_type_not_allowed") -> None:
        super().__init__(415, code, msg)


class TooLarge(ApiError):
    def __init__(self, msg: str, code: str = "payload_too_large") -> None:
        super().__init__(413, code, msg)


class Busy(ApiError):
    """Too much waiting already: the client should try again in a moment."""

    def __init__(
        self, msg: str = "The chat service is busy, try again", code: str = "busy"
    ) -> None:
        super().__init__(503, code, msg)
