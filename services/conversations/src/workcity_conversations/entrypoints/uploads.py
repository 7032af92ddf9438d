"""Read one file out of a `multipart/form-data` request body as it arrives.

python-multipart's streaming parser is fed the request body chunk by chunk; the bytes of the file
part are handed on as they are parsed. Nothing is spooled to memory or disk here, so a size limit
is enforced while reading (by whoever consumes the chunks) rather than after the upload. Starlette's
`request.form()` is not used because it spools the whole file to a temporary file first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from workcity_conversations.domain.errors import InvalidInput

# Form fields other than the file (a frontend may send some) are read and dropped; together they
# may not exceed this.
OTHER_PARTS_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FilePart:
    filename: str
    content_type: str | None  # what the client claims; informational only
    chunks: AsyncIterator[bytes]


def _bad(msg: str) -> InvalidInput:
    return InvalidInput("invalid_multipart", msg)


class MultipartFile:
    """The part named `field` (with a filename) of a multipart body. `open()` reads up to the
    end of that part's headers; the returned `chunks` then yield its bytes and, once the part
    has ended, read the rest of the body, so a truncated body is an error, not a short file."""

    def __init__(self, content_type: str | None, body: AsyncIterator[bytes], field: str) -> None:
        ctype, params = parse_options_header(content_type or "")
        if ctype != b"multipart/form-data" or not params.get(b"boundary"):
            raise _bad("Expected a multipart/form-data body with a boundary")
        self._field = field
        self._body = body
        self._eof = False
        self._complete = False
        # (kind, data, part content type): "headers" carry the Content-Disposition and type
        # (one write may parse several parts, so they are captured when they end), "data" the
        # part's bytes, "end" closes the part.
        self._events: list[tuple[str, bytes, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._part_type = b""
        self._parser = MultipartParser(
            params[b"boundary"],
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    # --- parser callbacks (synchronous: they only record) ---------------------------------

    def _on_part_begin(self) -> None:
        self._disposition = b""
        self._part_type = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_name.strip().lower()
        if name == b"content-disposition":
            self._disposition = self._header_value
        elif name == b"content-type":
            self._part_type = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        self._events.append(("headers", self._disposition, self._part_type))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end], b""))

    def _on_part_end(self) -> None:
        self._events.append(("end", b"", b""))

    def _on_end(self) -> None:
        self._complete = True

    # --- reading --------------------------------------------------------------------------

    async def _pump(self) -> bool:
        """Feed the parser the next piece of the body; False once the body has ended."""
        if self._eof:
            return False
        try:
            chunk = await anext(self._body, b"")
        except ClientDisconnect:
            raise InvalidInput("upload_incomplete", "The upload was interrupted") from None
        try:
            if chunk:
                self._parser.write(chunk)
            else:
                self._eof = True
                self._parser.finalize()
        except FormParserError:
            raise _bad("Malformed multipart body") from None
        return True

    async def _next_event(self) -> tuple[str, bytes, bytes] | None:
        while not self._events:
            if not await self._pump():
                return None
        return self._events.pop(0)

    async def open(self) -> FilePart:
        other_bytes = 0
        while True:
            event = await self._next_event()
            if event is None:
                raise InvalidInput(
                    "missing_file", f"The upload has no file in the field `{self._field}`"
                )
            kind, data, part_type = event
            if kind == "headers":
                # Header bytes are latin-1 on the wire; browsers put UTF-8 names there as is.
                disposition = data.decode("latin-1")
                _, options = parse_options_header(disposition)
                name = options.get(b"name", b"").decode("utf-8", "replace")
                if name == self._field and b"filename" in options:
                    filename = options[b"filename"].decode("utf-8", "replace")
                    ctype = part_type.decode("latin-1").strip() or None
                    return FilePart(filename, ctype, self._file_chunks())
            elif kind == "data":
                other_bytes += len(data)
                if other_bytes > OTHER_PARTS_MAX_BYTES:
                    raise _bad("Form fields besides the file are too large")

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._next_event()
            if event is None:
                raise InvalidInput("upload_incomplete", "The upload ended before the file did")
            kind, data, _ = event
            if kind == "end":
                break
            if kind == "data" and data:
                yield data
        # The rest of the body (normally just the closing boundary) must be well-formed too.
        other_bytes = 0
        while (event := await self._next_event()) is not None:
            other_bytes += len(event[1])
            if other_bytes > OTHER_PARTS_MAX_BYTES:
                raise _bad("Form fields besides the file are too large")
        if not self._complete:
            raise InvalidInput("upload_incomplete", "The upload ended before the file did")
