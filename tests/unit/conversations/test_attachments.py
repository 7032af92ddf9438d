"""Attachment rules: type detection from the bytes, Office archives, names and the header that
carries them, the multipart reader and the attachment ids of a message."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest
from workcity_common.error_table import http_status
from workcity_conversations.domain import files
from workcity_conversations.domain.errors import FileTypeRefused, InvalidInput
from workcity_conversations.domain.rules import attachment_ids, message_text
from workcity_conversations.entrypoints.uploads import MultipartFile

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
ELF_BYTES = b"\x7fELF\x02\x01\x01" + bytes(200)
PE_BYTES = b"MZ\x90\x00" + bytes(200)
OID = "0123456789abcdef01234567"


def office_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def office_type_of(data: bytes) -> str:
    assert files.detect(data[: files.SNIFF_BYTES], "x").content_type == files.ZIP_PENDING
    return files.office_type(data[-files.ZIP_TAIL_BYTES :], len(data))


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (PNG_BYTES, "shot.png", files.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(50), "photo.jpg", files.JPEG),
        (b"GIF89a" + bytes(20), "anim.gif", files.GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20), "p.webp", files.WEBP),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "invoice.pdf", files.PDF),
        (b"hello\nworld\n", "notes.txt", files.TEXT),
        ("héllo wörld ✓\n".encode(), "unicode.log", files.TEXT),
        (b"\xef\xbb\xbfa,b\n1,2\n", "table.csv", files.CSV),
        # The name does not decide the type: PNG bytes called .txt are a PNG.
        (PNG_BYTES, "not-really.txt", files.PNG),
        (b"just text", "looks-like.png", files.TEXT),
    ],
)
def test_allowed_types_are_detected_from_the_bytes(head: bytes, name: str, expected: str) -> None:
    assert files.detect(head, name).content_type == expected


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (ELF_BYTES, "program"),
        (PE_BYTES, "setup"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(50), "mac-tool"),
        (b"\xca\xfe\xba\xbe\x00\x00\x004", "Main.class"),
        (b"#!/bin/sh\nrm -rf /\n", "install.txt"),
        (b"\x00asm\x01\x00\x00\x00", "module"),
        # Renamed executables keep their bytes.
        (ELF_BYTES, "cute-cat.png"),
        (PE_BYTES, "invoice.pdf"),
        # Scripts are text, so their names count too.
        (b"@echo off\r\ndel *.*\r\n", "run.bat"),
        (b"alert(1)", "app.js"),
        (PNG_BYTES, "image.png.exe"),
    ],
)
def test_executables_are_refused(head: bytes, name: str) -> None:
    with pytest.raises(FileTypeRefused) as refused:
        files.detect(head, name)
    assert http_status(refused.value) == 415
    assert refused.value.code == "executable_not_allowed"


@pytest.mark.parametrize(
    "head",
    [
        bytes(range(256)),  # binary junk
        b"\x1f\x8b\x08\x00" + bytes(20),  # gzip
        b"Rar!\x1a\x07\x00",
        b"text with a \x00 NUL",
        "latin-1 caf\xe9".encode("latin-1") + b" and more text after it",
    ],
)
def test_other_types_are_refused(head: bytes) -> None:
    with pytest.raises(FileTypeRefused) as refused:
        files.detect(head, "file.dat")
    assert refused.value.code == "file_type_not_allowed"


def test_a_utf8_character_cut_at_the_end_of_the_window_is_still_text() -> None:
    head = ("a" * (files.SNIFF_BYTES - 1) + "é").encode()[: files.SNIFF_BYTES]
    assert files.detect(head, "long.txt").content_type == files.TEXT
    with pytest.raises(FileTypeRefused):  # the same bytes as a whole (short) file: not UTF-8
        files.detect(b"abc\xc3", "short.txt")


def test_office_documents_are_recognised_by_their_central_directory() -> None:
    base = {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>"}
    assert office_type_of(office_zip({**base, "word/document.xml": b"<w/>"})) == files.DOCX
    assert office_type_of(office_zip({**base, "xl/workbook.xml": b"<x/>"})) == files.XLSX
    assert office_type_of(office_zip({**base, "ppt/presentation.xml": b"<p/>"})) == files.PPTX
    # openpyxl writes [Content_Types].xml last: only the central directory sees it.
    late = office_zip({"xl/workbook.xml": b"<x/>", "[Content_Types].xml": b"<Types/>"})
    assert office_type_of(late) == files.XLSX


@pytest.mark.parametrize(
    "entries",
    [
        {"META-INF/MANIFEST.MF": b"Main-Class: x", "x/Main.class": b"\xca\xfe\xba\xbe"},  # .jar
        {"AndroidManifest.xml": b"x", "classes.dex": b"dex\n035"},  # .apk
        {"readme.txt": b"hello"},  # any other archive
        {
            "[Content_Types].xml": b"<Types/>",
            "word/document.xml": b"<w/>",
            "word/vbaProject.bin": b"macro",
        },  # .docm renamed .docx
    ],
)
def test_other_archives_are_refused(entries: dict[str, bytes]) -> None:
    with pytest.raises(FileTypeRefused):
        office_type_of(office_zip(entries))


def test_a_truncated_zip_is_refused() -> None:
    data = office_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    with pytest.raises(FileTypeRefused):
        office_type_of(data[:-10])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Desktop\\photo.png", "photo.png"),
        ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # no right-to-left override
        ("  ..hidden.txt  ", "hidden.txt"),
        ("tab\tand\x00nul.txt", "tabandnul.txt"),
        ("", "attachment"),
        (None, "attachment"),
        ("...", "attachment"),
        ("résumé «final».docx", "résumé «final».docx"),
    ],
)
def test_file_names_are_cleaned(raw: str | None, expected: str) -> None:
    assert files.clean_filename(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = files.clean_filename("x" * 400 + ".png")
    assert len(name) == files.FILENAME_MAX_CHARS
    assert name.endswith(".png")


@pytest.mark.parametrize(
    "name",
    ['quote".txt', "semi;colon.txt", "new\r\nline.txt", "résumé.pdf", "日本語.png", "a b.txt"],
)
def test_content_disposition_cannot_be_broken_out_of(name: str) -> None:
    header = files.content_disposition(name)
    assert header.startswith('attachment; filename="')
    assert "\r" not in header and "\n" not in header
    assert header.isascii()
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert all(ch not in fallback for ch in '";\\')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert ";" not in encoded and '"' not in encoded and " " not in encoded
    assert unquote(encoded) == files.clean_filename(name)


def test_content_disposition_of_a_non_ascii_name() -> None:
    assert files.content_disposition("résumé.pdf") == (
        "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )
    assert files.content_disposition("日本語.png").startswith('attachment; filename="png"')


def test_attachment_ids_of_a_message() -> None:
    assert attachment_ids(None, 10) == []
    assert attachment_ids([OID.upper(), OID], 10) == [OID]  # normalized, repeats once
    with pytest.raises(InvalidInput) as bad:
        attachment_ids(["nope"], 10)
    assert bad.value.code == "invalid_id"
    with pytest.raises(InvalidInput) as many:
        attachment_ids([f"{i:024x}" for i in range(3)], 2)
    assert many.value.code == "too_many_attachments"
    with pytest.raises(InvalidInput) as wrong:
        attachment_ids(OID, 10)
    assert wrong.value.code == "invalid_attachments"


def test_text_may_be_empty_only_with_attachments() -> None:
    assert message_text("  ", 10, allow_empty=True) == ""
    with pytest.raises(InvalidInput):
        message_text("  ", 10)


# --- the multipart reader ---------------------------------------------------------------------

BOUNDARY = "----workcity-test-boundary"


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]
    yield b""


async def read_file(body: bytes, size: int = 7) -> tuple[str, bytes]:
    reader = MultipartFile(f"multipart/form-data; boundary={BOUNDARY}", pieces(body, size), "file")
    part = await reader.open()
    data = b"".join([chunk async for chunk in part.chunks])
    return part.filename, data


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_the_file_part_is_read_in_pieces(size: int) -> None:
    payload = bytes(range(256)) * 40 + f"\r\n--{BOUNDARY}x".encode()
    body = multipart(("note", None, b"hello"), ("file", "résumé.pdf", payload))
    assert await read_file(body, size) == ("résumé.pdf", payload)


async def test_a_body_without_the_file_field_is_refused() -> None:
    with pytest.raises(InvalidInput) as missing:
        await read_file(multipart(("other", "a.txt", b"x")))
    assert missing.value.code == "missing_file"


async def test_a_truncated_body_is_refused() -> None:
    body = multipart(("file", "a.txt", b"x" * 1000))
    with pytest.raises(InvalidInput) as cut:
        await read_file(body[:600])
    assert cut.value.code == "upload_incomplete"


async def test_a_body_that_is_not_multipart_is_refused() -> None:
    with pytest.raises(InvalidInput) as wrong:
        MultipartFile("application/json", pieces(b"{}", 10), "file")
    assert wrong.value.code == "invalid_multipart"
