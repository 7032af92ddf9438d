"""What an uploaded file is, decided from its bytes, and how its name may be shown. Pure.

An allow-list, not a deny-list: a support chat needs screenshots and photos (PNG, JPEG, GIF,
WebP), PDFs, plain text and CSV, and Office documents (docx, xlsx, pptx). Anything else is
refused, and executables and scripts are named as such in the refusal. The client's own
Content-Type is never trusted: the stored (and served) type is the detected one.

Detection looks at the first `SNIFF_BYTES` of the file. Office documents are ZIP archives; a ZIP
is only accepted once its central directory (at the end of the file, kept in a bounded tail
buffer while streaming) shows an Office document without macros: a renamed .jar, .apk or any
other archive is refused.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from workcity_conversations.domain.errors import FileTypeRefused

# Enough for every signature below and for a meaningful UTF-8 check of a text file.
SNIFF_BYTES = 8 * 1024
# The end of a ZIP kept in memory while it streams: its central directory must fit in it (an
# Office document's has a few hundred entries at most, ~100 bytes each).
ZIP_TAIL_BYTES = 256 * 1024
FILENAME_MAX_CHARS = 255

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
TEXT = "text/plain"
CSV = "text/csv"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
# Not a stored type: a ZIP that still has to prove it is an Office document.
ZIP_PENDING = "application/zip"

ALLOWED_TYPES = frozenset({PNG, JPEG, GIF, WEBP, PDF, TEXT, CSV, DOCX, XLSX, PPTX})

# Names that run something when opened, whatever their bytes look like (a batch file is text).
EXECUTABLE_EXTENSIONS = frozenset(
    {
        "exe", "dll", "com", "scr", "msi", "msp", "msc", "cpl", "pif", "sys", "drv", "ocx",
        "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "hta",
        "lnk", "reg", "inf", "gadget", "application", "appref-ms",
        "sh", "bash", "zsh", "ksh", "csh", "command", "run", "bin", "elf", "out",
        "app", "dmg", "pkg", "deb", "rpm", "appimage", "snap", "jar", "apk", "xapk", "ipa",
        "class", "dex", "wasm", "docm", "xlsm", "pptm", "dotm", "xltm",
    }
)  # fmt: skip

# Executable formats by their first bytes. Checked before the allow-list so the refusal says why.
_EXECUTABLE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\xfe\xed\xfa\xce", "Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O universal binary or Java class"),
    (b"#!", "script"),
    (b"\x00asm", "WebAssembly module"),
    (b"dex\n", "Android DEX"),
)

_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"%PDF-", PDF),
)

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"
_ZIP_CENTRAL = b"PK\x01\x02"
_ZIP_END_SIZE = 22

# C0 controls other than tab, newline, carriage return and form feed; DEL. Text with these is
# not text.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Detected:
    content_type: str  # one of ALLOWED_TYPES, or ZIP_PENDING until the archive is checked


def extension(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return ext.lower() if dot else ""


def detect(head: bytes, filename: str) -> Detected:
    """The type of a file from its first bytes (at most SNIFF_BYTES; all of it if shorter) and
    its (clean) name. Raises FileTypeRefused (415) for executables and anything not allowed."""
    if extension(filename) in EXECUTABLE_EXTENSIONS:
        raise FileTypeRefused("Executable files are not allowed", "executable_not_allowed")
    for signature, what in _EXECUTABLE_SIGNATURES:
        if head.startswith(signature):
            raise FileTypeRefused(
                f"Executable files are not allowed ({what})", "executable_not_allowed"
            )
    for signature, content_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return Detected(content_type)
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected(WEBP)
    if head.startswith(_ZIP_LOCAL):
        return Detected(ZIP_PENDING)
    if _is_text(head, complete=len(head) < SNIFF_BYTES):
        return Detected(CSV if extension(filename) == "csv" else TEXT)
    raise FileTypeRefused(
        "This file type is not allowed (images, PDF, text, CSV and Office documents are)"
    )


def _is_text(head: bytes, *, complete: bool) -> bool:
    """UTF-8 (a BOM allowed) without binary control characters. `complete`: `head` is the whole
    file; otherwise a multi-byte character cut off at the end of the window is fine."""
    if not head or _BINARY_BYTES.search(head):
        return False
    body = head.removeprefix(b"\xef\xbb\xbf")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Only a truncated sequence at the very end of a partial window is acceptable.
        return (
            not complete and exc.reason == "unexpected end of data" and exc.start >= len(body) - 3
        )
    return True


def office_type(tail: bytes, total_size: int) -> str:
    """The Office type of a ZIP from the end of the file (`tail`: its last bytes, `total_size`:
    the file's length). Refuses archives that are not a macro-free docx, xlsx or pptx."""
    names = _zip_names(tail, total_size)
    if names is None:
        raise FileTypeRefused("Archives are not allowed (only Office documents)")
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise FileTypeRefused("Documents with macros are not allowed", "executable_not_allowed")
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
        if "ppt/presentation.xml" in names:
            return PPTX
    raise FileTypeRefused("Archives are not allowed (only Office documents)")


def _zip_names(tail: bytes, total_size: int) -> set[str] | None:
    """Entry names from a ZIP's central directory, or None if it is not a plain ZIP whose
    central directory lies within `tail` (ZIP64 included: no Office file here needs it)."""
    end = tail.rfind(_ZIP_END, max(0, len(tail) - _ZIP_END_SIZE - 0xFFFF))
    if end < 0 or end + _ZIP_END_SIZE > len(tail):
        return None
    entries, cd_size, cd_offset = struct.unpack_from("<HII", tail, end + 10)
    tail_start = total_size - len(tail)
    start = cd_offset - tail_start
    if cd_offset == 0xFFFFFFFF or start < 0 or start + cd_size > end:
        return None
    names: set[str] = set()
    pos = start
    for _ in range(entries):
        if tail[pos : pos + 4] != _ZIP_CENTRAL or pos + 46 > end:
            return None
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", tail, pos + 28)
        names.add(tail[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace"))
        pos += 46 + name_len + extra_len + comment_len
    return names


# --- names -----------------------------------------------------------------------------------


def clean_filename(raw: str | None) -> str:
    """A file name safe to store and show: the last path component, without control or
    formatting characters (a right-to-left override can disguise `gpj.exe` as `exe.jpg`),
    without leading dots or surrounding spaces, at most FILENAME_MAX_CHARS (the extension kept)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if unicodedata.category(ch) in {"Zl", "Zp", "Zs"} else ch
        for ch in name
        if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
    )
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: FILENAME_MAX_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:FILENAME_MAX_CHARS].rstrip(" .")
    return name or "attachment"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name as RFC 5987 `filename*`
    (RFC 6266). Every byte outside a safe set is replaced or percent-encoded, so no quote,
    semicolon or line break can end the header value early."""
    name = clean_filename(filename)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._() -]", "_", ascii_name).strip(" .") or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
