"""Where lines come from: plain or gzip files, or ``-`` for stdin, read as a stream of text lines.

Bytes that are not UTF-8 become U+FFFD (a log line is never refused for its encoding); gzip is recognised
by its magic bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["Source", "SourceError", "open_lines"]

_GZIP_MAGIC = b"\x1f\x8b"


class SourceError(Exception):
    """A log file cannot be opened or read (missing, a directory, a broken gzip stream)."""


def _binary(path: str) -> IO[bytes]:
    if path == "-":
        stdin: IO[bytes] = sys.stdin.buffer
        return stdin if isinstance(stdin, io.BufferedReader) else io.BufferedReader(stdin, buffer_size=1 << 16)  # type: ignore[type-var]
    candidate = Path(path)
    if candidate.is_dir():
        raise SourceError(f"{path}: is a directory, not a log file")
    try:
        return candidate.open("rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


@dataclass(frozen=True, slots=True)
class Source:
    """An open log: its lines, and how far into the file (in bytes on disk) reading has come."""

    lines: Iterator[str]
    raw: IO[bytes]
    size: int | None
    """The file's size on disk; None for stdin."""

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for gzip); 0 when the stream cannot say."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0


@contextmanager
def open_lines(path: str) -> Iterator[Source]:
    """The text lines of ``path`` (``-``: stdin), decompressed when it is gzip."""
    raw = _binary(path)
    try:
        peek = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
        stream: IO[bytes] = raw
        if peek == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        size = Path(path).stat().st_size if path != "-" else None
        yield Source(_guarded(text, path), raw, size)
    finally:
        if path != "-":
            raw.close()


def _guarded(text: io.TextIOWrapper, path: str) -> Iterator[str]:
    try:
        yield from text
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise SourceError(f"{path}: the gzip stream is broken ({exc})") from None


SPOOL_CHUNK = 1 << 20


def spool_stdin(destination: Path) -> str:
    """Copy stdin's bytes to ``destination`` in 1 MiB chunks (so DuckDB can read them as a file, and nothing of
    the log is held in memory); the path."""
    stdin = sys.stdin.buffer
    with destination.open("wb") as out:
        while chunk := stdin.read(SPOOL_CHUNK):
            out.write(chunk)
    return str(destination)
